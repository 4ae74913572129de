"""Paged queries: every row of an OData query, following ``@odata.nextLink``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

from mail2dataverse.errors import WebApiError
from mail2dataverse.writers.batch import error_of, parse_body
from mail2dataverse.writers.transport import Transport, TransportFailure


def query_all(transport: Transport, path: str, *, page_size: int | None = None) -> Iterator[dict[str, Any]]:
    """Rows of ``path`` through ``transport``, page by page (what ``WebApiClient.query_all`` runs).

    Pages after the first come from ``@odata.nextLink``, which must point to the org's own host.
    """
    url = transport.url(path)
    headers = {"Prefer": f"odata.maxpagesize={page_size}"} if page_size else {}
    while True:
        try:
            resp = transport.request("GET", url, data=None, headers=headers, what=f"GET {path}")
        except TransportFailure as exc:
            raise WebApiError(0, "TransportError", str(exc), f"GET {path}") from None
        body = parse_body(resp.content)
        if resp.status_code != 200:
            code, message = error_of(resp.status_code, body, resp.reason or "")
            raise WebApiError(resp.status_code, code or "", message or "", f"GET {path}")
        if not isinstance(body, dict):
            raise WebApiError(resp.status_code, "InvalidResponse", "the answer is not a JSON object", f"GET {path}")
        if "value" not in body:
            yield body  # a single entity
            return
        yield from body["value"]
        next_link = body.get("@odata.nextLink")
        if not next_link:
            return
        url = urljoin(transport.service_root, next_link)
        if urlsplit(url).netloc != urlsplit(transport.service_root).netloc:
            # The token must never travel to another host.
            raise WebApiError(200, "InvalidNextLink", "@odata.nextLink points to another host", f"GET {path}")
