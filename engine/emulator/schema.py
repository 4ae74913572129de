"""Table definitions of the emulated org: columns, types, maximum lengths, navigation properties.

Only the tables the sync engine touches (and the ones Microsoft's ``$batch`` examples use:
``task``) are modelled, but each is modelled the way the real metadata describes it, because the
point of the emulator is to reject what the real service rejects. Lengths and option values come
from Microsoft's entity reference (``reference/entities/<table>.md``); see
``/work/shared/reference/dataverse-web-api.md`` §4.3.

Naming follows Dataverse: a *column* is an attribute logical name (``parentcustomerid``); a
lookup column is read back as ``_parentcustomerid_value`` and written only through a
*single-valued navigation property* (``parentcustomerid_account@odata.bind``); a
*collection navigation property* (``email_activity_parties``) lists the child rows whose lookup
points at the parent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

# Edm type names used in OData error messages, per column type.
EDM_TYPES = {
    "string": "Edm.String",
    "memo": "Edm.String",
    "entityname": "Edm.String",
    "int": "Edm.Int32",
    "bigint": "Edm.Int64",
    "picklist": "Edm.Int32",
    "state": "Edm.Int32",
    "status": "Edm.Int32",
    "bool": "Edm.Boolean",
    "datetime": "Edm.DateTimeOffset",
    "decimal": "Edm.Decimal",
    "money": "Edm.Decimal",
    "double": "Edm.Double",
    "uniqueidentifier": "Edm.Guid",
    "lookup": "Edm.Guid",
}

# AttributeType values reported by EntityDefinitions/Attributes.
ATTRIBUTE_TYPES = {
    "string": "String",
    "memo": "Memo",
    "entityname": "EntityName",
    "int": "Integer",
    "bigint": "BigInt",
    "picklist": "Picklist",
    "state": "State",
    "status": "Status",
    "bool": "Boolean",
    "datetime": "DateTime",
    "decimal": "Decimal",
    "money": "Money",
    "double": "Double",
    "uniqueidentifier": "Uniqueidentifier",
    "lookup": "Lookup",
}

METADATA_NS = uuid.UUID("6f1d2a56-2f0b-4d6c-9a2c-6d0f4a1e7b10")


@dataclass(frozen=True)
class Column:
    """One attribute: its type, limits and whether a client may write it."""

    name: str
    type: str
    max_length: int | None = None
    create: bool = True  # IsValidForCreate
    update: bool = True  # IsValidForUpdate
    targets: tuple[str, ...] = ()  # lookup target tables
    type_column: str | None = None  # polymorphic lookups keep the target's logical name here
    options: tuple[int, ...] = ()  # picklist values
    label: str = ""


@dataclass(frozen=True)
class NavSingle:
    """A single-valued navigation property: writes ``column`` pointing at ``target``."""

    name: str
    column: str
    target: str


@dataclass(frozen=True)
class NavCollection:
    """A collection navigation property: rows of ``child`` whose ``child_column`` is this record."""

    name: str
    child: str
    child_column: str


@dataclass
class Table:
    """An entity: logical name, entity set, primary key, columns and relationships."""

    logical: str
    entity_set: str
    pk: str
    primary_name: str | None
    object_type_code: int
    columns: dict[str, Column]
    navs: dict[str, NavSingle] = field(default_factory=dict)
    collections: dict[str, NavCollection] = field(default_factory=dict)
    # statecode -> default statuscode; statuscode -> owning statecode.
    state_defaults: dict[int, int] = field(default_factory=dict)
    status_state: dict[int, int] = field(default_factory=dict)
    bulk: bool = False  # CreateMultiple/UpdateMultiple/UpsertMultiple supported
    creatable: bool = True  # activityparty rows exist only inside their activity
    schema_name: str = ""

    @property
    def metadata_id(self) -> str:
        """A stable MetadataId (the real one differs per org; clients only echo it)."""
        return str(uuid.uuid5(METADATA_NS, self.logical))

    def lookup_property(self, name: str) -> str | None:
        """Map ``_x_value`` to the lookup column ``x`` when ``x`` is a lookup of this table."""
        if name.startswith("_") and name.endswith("_value"):
            col = self.columns.get(name[1:-6])
            if col is not None and col.type == "lookup":
                return col.name
        return None


def _c(name: str, type_: str, max_length: int | None = None, **kw) -> Column:
    return Column(name=name, type=type_, max_length=max_length, **kw)


def _common(pk: str) -> list[Column]:
    """Columns every table has: primary key, audit dates and version number (server-set)."""
    return [
        _c(pk, "uniqueidentifier", create=True, update=False),
        _c("createdon", "datetime", create=False, update=False),
        _c("modifiedon", "datetime", create=False, update=False),
        _c("overriddencreatedon", "datetime", update=False),
        _c("versionnumber", "bigint", create=False, update=False),
        _c("importsequencenumber", "int", update=False),
    ]


def _state(states: dict[int, int], statuses: dict[int, int], state_create: bool = True) -> list[Column]:
    return [
        _c("statecode", "state", options=tuple(sorted(states)), create=state_create),
        _c("statuscode", "status", options=tuple(sorted(statuses))),
    ]


def _table(logical, entity_set, pk, primary_name, otc, cols, navs=(), colls=(), states=None, statuses=None,
           bulk=False, creatable=True, state_create=True) -> Table:
    columns = _common(pk) + list(cols)
    if states:
        columns += _state(states, statuses, state_create)
    return Table(
        logical=logical,
        entity_set=entity_set,
        pk=pk,
        primary_name=primary_name,
        object_type_code=otc,
        columns={c.name: c for c in columns},
        navs={n.name: n for n in navs},
        collections={n.name: n for n in colls},
        state_defaults=dict(states or {}),
        status_state=dict(statuses or {}),
        bulk=bulk,
        creatable=creatable,
        schema_name=logical.capitalize() if logical != "activityparty" else "ActivityParty",
    )


ACTIVITY_REGARDING = ("account", "contact", "opportunity", "incident", "lead")
# Microsoft's $batch examples use task and phonecall; the sync itself writes email.


def build_tables(email_subject_max: int = 800) -> dict[str, Table]:
    """Build the emulated org's tables; ``email_subject_max`` is 800 today, 200 on older orgs."""
    contact = _table(
        "contact", "contacts", "contactid", "fullname", 2,
        [
            _c("firstname", "string", 50), _c("lastname", "string", 50), _c("middlename", "string", 50),
            _c("fullname", "string", 160, create=False, update=False),
            _c("nickname", "string", 100), _c("salutation", "string", 100),
            _c("emailaddress1", "string", 100), _c("emailaddress2", "string", 100),
            _c("emailaddress3", "string", 100),
            _c("telephone1", "string", 50), _c("telephone2", "string", 50), _c("telephone3", "string", 50),
            _c("mobilephone", "string", 50), _c("fax", "string", 50),
            _c("jobtitle", "string", 100), _c("department", "string", 100), _c("websiteurl", "string", 200),
            _c("description", "memo", 2000),
            _c("address1_line1", "string", 250), _c("address1_city", "string", 80),
            _c("address1_postalcode", "string", 20), _c("address1_country", "string", 80),
            _c("donotemail", "bool"), _c("birthdate", "datetime"),
            _c("parentcustomerid", "lookup", targets=("account", "contact"), type_column="parentcustomeridtype"),
            _c("parentcustomeridtype", "entityname", create=False, update=False),
        ],
        navs=[NavSingle("parentcustomerid_account", "parentcustomerid", "account"),
              NavSingle("parentcustomerid_contact", "parentcustomerid", "contact")],
        colls=[NavCollection("Contact_Emails", "email", "regardingobjectid"),
               NavCollection("contact_customer_contacts", "contact", "parentcustomerid")],
        states={0: 1, 1: 2}, statuses={1: 0, 2: 1}, bulk=True,
    )
    account = _table(
        "account", "accounts", "accountid", "name", 1,
        [
            _c("name", "string", 160), _c("accountnumber", "string", 20), _c("websiteurl", "string", 200),
            _c("emailaddress1", "string", 100), _c("emailaddress2", "string", 100),
            _c("emailaddress3", "string", 100), _c("telephone1", "string", 50), _c("fax", "string", 50),
            _c("description", "memo", 2000), _c("tickersymbol", "string", 10),
            _c("address1_line1", "string", 250), _c("address1_city", "string", 80),
            _c("address1_postalcode", "string", 20), _c("address1_country", "string", 80),
            _c("address1_latitude", "double"), _c("address1_longitude", "double"),
            _c("numberofemployees", "int"), _c("revenue", "money"), _c("creditonhold", "bool"),
            _c("accountcategorycode", "picklist", options=(1, 2)),
            _c("industrycode", "picklist", options=tuple(range(1, 34))),
            _c("customertypecode", "picklist", options=tuple(range(1, 13))),
            _c("primarycontactid", "lookup", targets=("contact",)),
            _c("originatingleadid", "lookup", targets=("lead",)),
            _c("parentaccountid", "lookup", targets=("account",)),
        ],
        navs=[NavSingle("primarycontactid", "primarycontactid", "contact"),
              NavSingle("originatingleadid", "originatingleadid", "lead"),
              NavSingle("parentaccountid", "parentaccountid", "account")],
        colls=[NavCollection("Account_Tasks", "task", "regardingobjectid"),
               NavCollection("Account_Emails", "email", "regardingobjectid"),
               NavCollection("contact_customer_accounts", "contact", "parentcustomerid"),
               NavCollection("opportunity_parent_account", "opportunity", "parentaccountid")],
        states={0: 1, 1: 2}, statuses={1: 0, 2: 1}, bulk=True,
    )
    email = _table(
        "email", "emails", "activityid", "subject", 4202,
        [
            _c("subject", "string", email_subject_max), _c("description", "memo", 1073741823),
            _c("directioncode", "bool"), _c("messageid", "string", 320),
            _c("sender", "string", 250), _c("torecipients", "string", 500),
            _c("actualstart", "datetime"), _c("actualend", "datetime"),
            _c("scheduledstart", "datetime"), _c("scheduledend", "datetime"),
            _c("senton", "datetime", create=False, update=False),
            _c("inreplyto", "string", 320, create=False, update=False),
            _c("conversationindex", "string", 2048, create=False, update=False),
            _c("trackingtoken", "string", 50), _c("category", "string", 250), _c("subcategory", "string", 250),
            _c("prioritycode", "picklist", options=(0, 1, 2)),
            _c("activitytypecode", "entityname", create=False, update=False),
            _c("regardingobjectid", "lookup", targets=ACTIVITY_REGARDING, type_column="regardingobjecttypecode"),
            _c("regardingobjecttypecode", "entityname", create=False, update=False),
        ],
        navs=[NavSingle(f"regardingobjectid_{t}_email", "regardingobjectid", t) for t in ACTIVITY_REGARDING],
        colls=[NavCollection("email_activity_parties", "activityparty", "activityid")],
        states={0: 1, 1: 2, 2: 5}, statuses={1: 0, 8: 0, 2: 1, 3: 1, 4: 1, 6: 1, 7: 1, 5: 2},
        bulk=False, state_create=False,
    )
    task = _table(
        "task", "tasks", "activityid", "subject", 4212,
        [
            _c("subject", "string", 200), _c("description", "memo", 2000),
            _c("scheduledstart", "datetime"), _c("scheduledend", "datetime"),
            _c("prioritycode", "picklist", options=(0, 1, 2)), _c("percentcomplete", "int"),
            _c("activitytypecode", "entityname", create=False, update=False),
            _c("regardingobjectid", "lookup", targets=ACTIVITY_REGARDING, type_column="regardingobjecttypecode"),
            _c("regardingobjecttypecode", "entityname", create=False, update=False),
        ],
        navs=[NavSingle(f"regardingobjectid_{t}_task", "regardingobjectid", t) for t in ACTIVITY_REGARDING],
        states={0: 2, 1: 5, 2: 6}, statuses={2: 0, 3: 0, 4: 0, 7: 0, 5: 1, 6: 2},
        bulk=True,
    )
    phonecall = _table(
        "phonecall", "phonecalls", "activityid", "subject", 4210,
        [
            _c("subject", "string", 200), _c("phonenumber", "string", 200), _c("description", "memo", 2000),
            _c("directioncode", "bool"), _c("scheduledend", "datetime"),
            _c("activitytypecode", "entityname", create=False, update=False),
            _c("regardingobjectid", "lookup", targets=ACTIVITY_REGARDING, type_column="regardingobjecttypecode"),
            _c("regardingobjecttypecode", "entityname", create=False, update=False),
        ],
        navs=[NavSingle(f"regardingobjectid_{t}_phonecall", "regardingobjectid", t) for t in ACTIVITY_REGARDING],
        states={0: 1, 1: 2, 2: 3}, statuses={1: 0, 2: 1, 4: 1, 3: 2}, bulk=True,
    )
    party_targets = ("account", "contact", "systemuser", "lead", "queue")
    activityparty = _table(
        "activityparty", "activityparties", "activitypartyid", None, 135,
        [
            _c("participationtypemask", "picklist", options=tuple(range(1, 14))),
            _c("addressused", "string", 320),
            _c("partyid", "lookup", targets=party_targets, type_column="partyobjecttypecode"),
            _c("partyobjecttypecode", "entityname", create=False, update=False),
            _c("activityid", "lookup", targets=("email", "task"), create=False, update=False),
            _c("ispartydeleted", "bool", create=False, update=False),
        ],
        navs=[NavSingle(f"partyid_{t}", "partyid", t) for t in party_targets],
        creatable=False,
    )
    opportunity = _table(
        "opportunity", "opportunities", "opportunityid", "name", 3,
        [
            _c("name", "string", 300), _c("description", "memo", 2000), _c("estimatedvalue", "money"),
            _c("estimatedclosedate", "datetime"), _c("closeprobability", "int"),
            _c("parentaccountid", "lookup", targets=("account",)),
            _c("parentcontactid", "lookup", targets=("contact",)),
            _c("customerid", "lookup", targets=("account", "contact"), type_column="customeridtype"),
            _c("customeridtype", "entityname", create=False, update=False),
        ],
        navs=[NavSingle("parentaccountid", "parentaccountid", "account"),
              NavSingle("parentcontactid", "parentcontactid", "contact"),
              NavSingle("customerid_account", "customerid", "account"),
              NavSingle("customerid_contact", "customerid", "contact")],
        colls=[NavCollection("Opportunity_Emails", "email", "regardingobjectid")],
        states={0: 1, 1: 3, 2: 4}, statuses={1: 0, 2: 0, 3: 1, 4: 2, 5: 2}, bulk=True,
    )
    incident = _table(
        "incident", "incidents", "incidentid", "title", 112,
        [
            _c("title", "string", 200), _c("ticketnumber", "string", 100, update=False),
            _c("description", "memo", 2000), _c("prioritycode", "picklist", options=(1, 2, 3)),
            _c("customerid", "lookup", targets=("account", "contact"), type_column="customeridtype"),
            _c("customeridtype", "entityname", create=False, update=False),
        ],
        navs=[NavSingle("customerid_account", "customerid", "account"),
              NavSingle("customerid_contact", "customerid", "contact")],
        colls=[NavCollection("Incident_Emails", "email", "regardingobjectid")],
        states={0: 1, 1: 5, 2: 6}, statuses={1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 1000: 1, 6: 2, 2000: 2}, bulk=True,
    )
    systemuser = _table(
        "systemuser", "systemusers", "systemuserid", "fullname", 8,
        [
            _c("firstname", "string", 256), _c("lastname", "string", 256),
            _c("fullname", "string", 200, create=False, update=False),
            _c("internalemailaddress", "string", 100), _c("domainname", "string", 1024),
            _c("isdisabled", "bool", create=False, update=False),
        ],
        bulk=True,
    )
    lead = _table(
        "lead", "leads", "leadid", "fullname", 4,
        [
            _c("firstname", "string", 50), _c("lastname", "string", 50),
            _c("fullname", "string", 160, create=False, update=False),
            _c("subject", "string", 300), _c("companyname", "string", 100),
            _c("emailaddress1", "string", 100), _c("emailaddress2", "string", 100),
            _c("emailaddress3", "string", 100), _c("telephone1", "string", 50), _c("websiteurl", "string", 200),
            _c("description", "memo", 2000),
        ],
        states={0: 1, 1: 3, 2: 4}, statuses={1: 0, 2: 0, 3: 1, 4: 2, 5: 2, 6: 2, 7: 2}, bulk=True,
    )
    queue = _table(
        "queue", "queues", "queueid", "name", 2020,
        [_c("name", "string", 400), _c("emailaddress", "string", 100), _c("description", "memo", 2000)],
        states={0: 1, 1: 2}, statuses={1: 0, 2: 1}, bulk=True,
    )
    tables = [contact, account, email, task, phonecall, activityparty, opportunity, incident, systemuser, lead, queue]
    by_name = {t.logical: t for t in tables}
    _extend_for_attachments(by_name)
    return by_name


def _extend_for_attachments(tables: dict[str, Table]) -> None:
    """Add the attachment and organization tables and the email's thread and date columns
    (their rules: :mod:`.rules_attachments`)."""
    email = tables["email"]
    for col in (
        _c("sortdate", "datetime"),
        _c("notifications", "picklist", options=(0, 1)),
        _c("parentactivityid", "lookup", targets=("email",), update=False),
        _c("correlatedactivityid", "lookup", targets=("email",), update=False),
        _c("conversationtrackingid", "uniqueidentifier", update=False),
    ):
        email.columns[col.name] = col
    email.navs["parentactivityid"] = NavSingle("parentactivityid", "parentactivityid", "email")
    email.navs["CorrelatedActivityId_Email"] = NavSingle("CorrelatedActivityId_Email", "correlatedactivityid", "email")
    email.collections["email_activity_mime_attachment"] = NavCollection(
        "email_activity_mime_attachment", "activitymimeattachment", "objectid")
    cols = _common("activitymimeattachmentid") + [
        _c("body", "memo", 1073741823), _c("filename", "string", 255), _c("mimetype", "string", 256),
        _c("subject", "string", 2000), _c("attachmentcontentid", "string", 250), _c("attachmentnumber", "int"),
        _c("objecttypecode", "entityname"),
        _c("objectid", "lookup", targets=("email",)),
        _c("attachmentid", "lookup", targets=("activitymimeattachment",)),
        _c("filesize", "int", create=False, update=False),
    ]
    tables["activitymimeattachment"] = Table(
        logical="activitymimeattachment", entity_set="activitymimeattachments", pk="activitymimeattachmentid",
        primary_name="filename", object_type_code=1001, columns={c.name: c for c in cols},
        # The sample binds a reused file as attachmentid@odata.bind: activitymimeattachments(<id>).
        navs={"objectid_email": NavSingle("objectid_email", "objectid", "email"),
              "attachmentid": NavSingle("attachmentid", "attachmentid", "activitymimeattachment")},
        schema_name="ActivityMimeAttachment",
    )
    org_cols = _common("organizationid") + [
        _c("name", "string", 160), _c("maxuploadfilesize", "int"), _c("blockedattachments", "memo", 1073741823),
        _c("blockedmimetypes", "memo", 1073741823), _c("allowedmimetypes", "memo", 1073741823),
    ]
    tables["organization"] = Table(
        logical="organization", entity_set="organizations", pk="organizationid", primary_name="name",
        object_type_code=1019, columns={c.name: c for c in org_cols}, creatable=False, schema_name="Organization",
    )

