"""Original dates: a created email carries the date the mail was written, not the import's.

``actualstart``, ``actualend`` and ``sortdate`` come from the mapping (``mappings/email.yaml``,
the message date in UTC). ``overriddencreatedon`` is added here, on creates only (the column is
create-only), when the config's ``original_dates`` is on and the application user holds
``prvOverrideCreatedOnCreatedBy``: the service then stores the message date as ``createdon``.
The privilege is read once per run (``WhoAmI``, then
``RetrieveUserPrivilegeByPrivilegeName``); when it is missing or cannot be read, the run warns
and leaves the column out rather than failing every email. A date in the future (a sender's
clock) is never sent, since the service refuses it; dates before 1753 never reach here (the
mapper skips such a message).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..model import MappedEmail
from ..operations import Operation
from .context import RunContext

OVERRIDE_PRIVILEGE = "prvOverrideCreatedOnCreatedBy"


class OriginalDates:
    """Decides, once per run, whether created emails carry ``overriddencreatedon``."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.enabled = ctx.config.original_dates
        self.checked = False
        self._now = datetime.now(timezone.utc)  # the clock as last read (see apply)

    def check_privilege(self) -> None:
        """Read whether the application user may override ``createdon``; warn and turn off if not.

        A dry run has no org to ask: the preview shows the column as a sync with the privilege
        sends it.
        """
        if not self.enabled or self.checked or self.ctx.executor.dry_run:
            return
        self.checked = True
        held = privilege_held(self.ctx.executor, OVERRIDE_PRIVILEGE)
        if held is not True:
            why = "the application user lacks it" if held is False else "it could not be read"
            self.ctx.report.warnings.append(
                f"original dates: overriddencreatedon is not sent ({OVERRIDE_PRIVILEGE}: {why}); created emails "
                "show the import time as createdon (actualstart, actualend and sortdate still carry the message date)")
            self.enabled = False

    def apply(self, e: MappedEmail, body: dict[str, Any]) -> None:
        """Add ``overriddencreatedon`` to the create ``body`` of ``e`` when allowed."""
        date = e.date
        if not self.enabled or date is None:
            return
        if date > self._now:
            # Time only moves on: a date not after the clock read last is not in the future,
            # so the clock is read again only for a date after it (once per email cost 5 µs).
            self._now = datetime.now(timezone.utc)
            if date > self._now:
                return
        # isoformat of a whole second is the strftime form for every year Dataverse stores; a
        # date in UTC already, as mapped dates are, is not converted again
        if date.tzinfo is not timezone.utc:
            date = date.astimezone(timezone.utc)
        body["overriddencreatedon"] = date.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def privilege_held(executor: Any, name: str) -> bool | None:
    """True/False when the calling user holds privilege ``name``; None when it cannot be read."""
    who = executor.run([Operation("GET", "WhoAmI")], phase=0)[0]
    user = (who.body or {}).get("UserId") if who.ok and isinstance(who.body, dict) else None
    if not user:
        return None
    path = f"systemusers({user})/Microsoft.Dynamics.CRM.RetrieveUserPrivilegeByPrivilegeName(PrivilegeName='{name}')"
    res = executor.run([Operation("GET", path)], phase=0)[0]
    if not res.ok or not isinstance(res.body, dict):
        return None
    return bool(res.body.get("RolePrivileges"))
