"""The Dataverse error vocabulary the emulator answers with.

Every rejection the emulator makes is an :class:`ODataError`: an HTTP status plus the body
``{"error": {"code": "0x...", "message": "..."}}`` that Dataverse sends (see
``/work/shared/reference/dataverse-web-api.md`` §5). The constructors below keep the exact
message formats in one place, because clients (and tests) match on them — for example the two
spaces after "A validation error occurred." in the string-length error.
"""

from __future__ import annotations

import json
import uuid


class ODataError(Exception):
    """A request the emulated service rejects, carrying the real status, code and message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> bytes:
        """The JSON error body exactly as Dataverse formats it (compact, no innererror)."""
        return json.dumps(
            {"error": {"code": self.code, "message": self.message}}, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")


# --- record / key errors ------------------------------------------------------------------


def not_found(logical: str, record_id: str) -> ODataError:
    """404 ObjectDoesNotExist for a GUID that matches no row (live form of the message)."""
    return ODataError(404, "0x80040217", f"Entity '{logical}' With Id = {record_id} Does Not Exist")


def key_not_found(logical: str) -> ODataError:
    """404 for an alternate-key URL that matches no row (If-Match: *, bind targets, GET)."""
    return ODataError(404, "0x80060891", f"A record with the specified key values does not exist in {logical} entity")


def duplicate_record() -> ODataError:
    """412 DuplicateRecord: a create for a primary key that exists, or If-None-Match: * on a hit."""
    return ODataError(412, "0x80040237", "A record with matching key values already exists.")


def duplicate_entity_key(key_name: str, columns: list[str]) -> ODataError:
    """412 DuplicateRecordEntityKey: an alternate key's uniqueness would be violated."""
    cols = ", ".join(columns)
    return ODataError(
        412,
        "0x80060892",
        f"A record that has the attribute values {cols} already exists. The entity key {key_name} requires "
        "that this set of attributes contains unique values. Select unique values and try again.",
    )


def etag_mismatch() -> ODataError:
    """412 ConcurrencyVersionMismatch for an If-Match ETag that is not the current version."""
    return ODataError(
        412, "0x80060882", "The version of the existing record doesn't match the RowVersion property provided."
    )


def invalid_key(logical: str, code: str = "0x0") -> ODataError:
    """400 for a key segment that names no declared primary or alternate key."""
    ent = f"Microsoft.Dynamics.CRM.{logical}"
    return ODataError(
        400,
        code,
        f"The key in the request URI is not valid for resource '{ent}'. Ensure that the names and number of key "
        f"properties match the declared or alternate key properties for the resource '{ent}'.",
    )


def resource_not_found(segment: str) -> ODataError:
    """404 for an unknown entity set or path segment (entity set names are case-sensitive)."""
    return ODataError(404, "0x8006088a", f"Resource not found for the segment '{segment}'.")


def no_http_resource(url: str) -> ODataError:
    """404 for a method/URL combination the service has no handler for."""
    return ODataError(404, "", f"No HTTP resource was found that matches the request URI '{url}'.")


# --- payload errors -----------------------------------------------------------------------


def payload_error(entity_set: str, inner: str) -> ODataError:
    """400 0x80048d19: the OData reader rejected the JSON payload (wrapper text as Dataverse sends it)."""
    return ODataError(
        400,
        "0x80048d19",
        f"Error identified in Payload provided by the user for Entity :'{entity_set}', For more information on "
        f"this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ---->  "
        f"InnerException : Microsoft.OData.ODataException: {inner}",
    )


def undeclared_annotation_property(entity_set: str, name: str) -> ODataError:
    """400 0x80048d19 for ``x@odata.bind`` where ``x`` is not a declared navigation property."""
    return payload_error(
        entity_set,
        f"An undeclared property '{name}' which only has property annotations in the payload but no property "
        "value was found in the payload. In OData, only declared navigation properties and declared named "
        "streams can be represented as properties without values.",
    )


def invalid_property(logical: str, name: str) -> ODataError:
    """400 for an unknown (or wrong-case) property in a POST/PATCH body."""
    return ODataError(
        400,
        "0x0",
        "An error occurred while validating input parameters: Microsoft.Crm.CrmException: Invalid property "
        f"'{name}' was found in entity 'Microsoft.Dynamics.CRM.{logical}'. ---> Microsoft.OData.ODataException: "
        "Does not support untyped value in non-open type.",
    )


def length_exceeded(logical: str, column: str, max_length: int) -> ODataError:
    """400 0x80044331 string too long; note the two spaces after 'occurred.'."""
    return ODataError(
        400,
        "0x80044331",
        f"A validation error occurred.  The length of the '{column}' attribute of the '{logical}' entity "
        f"exceeded the maximum allowed length of '{max_length}'.",
    )


def outside_range(logical: str, column: str, value, accepted: list[int]) -> ODataError:
    """400 0x80044331 for an option-set value that is not one of the column's options."""
    acc = ",".join(str(v) for v in accepted)
    return ODataError(
        400,
        "0x80044331",
        f"A validation error occurred.  The value {value} of '{column}' on record of type '{logical}' is outside "
        f"the valid range. Accepted Values: {acc}",
    )


def bad_request(message: str, code: str = "0x0") -> ODataError:
    """400 with an arbitrary message (URI parser errors are reported with code 0x0)."""
    return ODataError(400, code, message)


def property_not_found(logical: str, name: str) -> ODataError:
    """400 for an unknown property in ``$select``, ``$filter``, ``$orderby`` or ``$expand``."""
    return ODataError(400, "0x0", f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{logical}'.")


def unsupported_message(message_name: str, logical: str) -> ODataError:
    """400 SdkEntityDoesNotSupportMessage (e.g. CreateMultiple on email)."""
    return ODataError(
        400,
        "0x80040800",
        f"The '{message_name}' method does not support entities of type '{logical}'. MessageProcessorCache "
        "returned MessageProcessor.Empty.",
    )


def unexpected() -> ODataError:
    """400 0x80040216, the generic 'unexpected error' seen e.g. for key columns repeated in UpsertMultiple."""
    return ODataError(400, "0x80040216", "An unexpected error occurred.")


def batch_reader(message: str) -> ODataError:
    """400 for a ``$batch`` body the OData batch reader refuses (its own message, e.g. a missing
    ``Content-Transfer-Encoding``), with the code Dataverse gives unreadable batch bodies."""
    return ODataError(400, "0x80048d19", message)


def stream_not_readable() -> ODataError:
    """400 for a ``$batch`` body that is not well-formed CRLF multipart."""
    return ODataError(400, "0x80048d19", "Stream was not readable.")


def privilege_id(name: str) -> str:
    """A stable id for a named privilege (the real ids differ per org; messages only quote them)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:dataverse-emulator:privilege:{name}"))
