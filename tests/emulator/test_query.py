"""GET: $select, $filter (incl. In), $orderby, $top, $count, $expand, paging and their 400s."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from .conftest import error_of


@pytest.fixture
def people(client):
    emails = ["ann@x.com", "o'brien@y.com", "BOB@x.com", None, "a+tag@x.com"]
    ids = []
    for i, e in enumerate(emails):
        body = {"lastname": f"L{i}", "firstname": ["Zed", "Amy", "Amy", "Bo", "Cy"][i]}
        if e:
            body["emailaddress1"] = e
        ids.append(client.create("contacts", body))
    return client, ids


def names(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [r["lastname"] for r in resp.json()["value"]]


def q(client, query: str):
    return client.get("contacts?" + query)


def test_select_returns_selected_columns_plus_key_and_etag(people):
    client, ids = people
    r = q(client, "$select=lastname&$top=1")
    row = r.json()["value"][0]
    assert set(row) == {"@odata.etag", "lastname", "contactid"}
    assert r.json()["@odata.context"] == f"{client.root}$metadata#contacts(lastname)"


def test_unknown_property_in_select_and_filter_is_400(people):
    client, _ = people
    for query in ("$select=LastName", "$filter=nope eq 'x'", "$orderby=nope", "$select=parentcustomerid"):
        r = q(client, query)
        assert r.status_code == 400, query
        code, message = error_of(r)
        assert code == "0x0" and message.startswith("Could not find a property named ")
        assert message.endswith("on type 'Microsoft.Dynamics.CRM.contact'.")


def test_filter_eq_is_case_insensitive(people):
    client, _ = people
    assert names(q(client, "$filter=emailaddress1 eq 'bob@X.COM'")) == ["L2"]


def test_filter_doubled_quote(people):
    client, _ = people
    assert names(q(client, "$filter=" + quote("emailaddress1 eq 'o''brien@y.com'"))) == ["L1"]


def test_filter_unterminated_literal_message(people):
    client, _ = people
    r = q(client, "$filter=" + quote("lastname eq 'O'Bryan'"))
    assert r.status_code == 400
    assert error_of(r)[1] == "There is an unterminated literal at position 21 in 'lastname eq 'O'Bryan''."


def test_unencoded_plus_in_query_is_a_space(people):
    """IIS decodes '+' in a query string to a space: an unencoded plus-address finds nothing."""
    client, _ = people
    assert names(q(client, "$filter=emailaddress1 eq 'a+tag@x.com'")) == []
    assert names(q(client, "$filter=" + quote("emailaddress1 eq 'a+tag@x.com'"))) == ["L4"]


def test_filter_ne_and_or_not_parentheses_null(people):
    client, _ = people
    assert names(q(client, "$filter=emailaddress1 eq null")) == ["L3"]
    assert sorted(names(q(client, "$filter=emailaddress1 ne null and firstname eq 'Amy'"))) == ["L1", "L2"]
    assert sorted(names(q(client, "$filter=(firstname eq 'Zed' or firstname eq 'Bo') and lastname ne 'L3'"))) \
        == ["L0"]
    assert sorted(names(q(client, "$filter=not (firstname eq 'Amy')"))) == ["L0", "L3", "L4"]
    # SQL semantics: a null column matches no comparison, not even ne
    assert "L3" not in names(q(client, "$filter=emailaddress1 ne 'x'"))


def test_string_functions(people):
    client, _ = people
    assert sorted(names(q(client, "$filter=contains(emailaddress1,'@X.')"))) == ["L0", "L2", "L4"]
    assert names(q(client, "$filter=startswith(emailaddress1,'o''b')")) == ["L1"]
    assert sorted(names(q(client, "$filter=endswith(emailaddress1,'y.com')"))) == ["L1"]


def test_in_with_json_values(people):
    client, _ = people
    f = 'Microsoft.Dynamics.CRM.In(PropertyName=\'emailaddress1\',PropertyValues=["ANN@x.com","o\'brien@y.com"])'
    assert sorted(names(q(client, "$filter=" + quote(f)))) == ["L0", "L1"]


def test_in_with_parameter_aliases(people):
    client, _ = people
    r = q(client, "$filter=" + quote("Microsoft.Dynamics.CRM.In(PropertyName=@p1,PropertyValues=@p2)")
          + "&@p1=" + quote("'emailaddress1'") + "&@p2=" + quote('["bob@x.com"]'))
    assert names(r) == ["L2"]


def test_in_single_quoted_values_with_apostrophe_is_invalid_json(people):
    client, _ = people
    ok = "Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',PropertyValues=['ann@x.com'])"
    assert names(q(client, "$filter=" + quote(ok))) == ["L0"]
    bad = "Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',PropertyValues=['OBrian','O'Brian'])"
    r = q(client, "$filter=" + quote(bad))
    assert r.status_code == 400
    assert error_of(r)[1] == ("Invalid JSON. A comma character ',' was expected in scope 'Array'. Every two "
                              "elements in an array and properties of an object must be separated by commas.")


def test_in_unknown_property(people):
    client, _ = people
    r = q(client, "$filter=" + quote("Microsoft.Dynamics.CRM.In(PropertyName='email',PropertyValues=[\"a\"])"))
    assert r.status_code == 400 and "Could not find a property named 'email'" in error_of(r)[1]


def test_lookup_filters(client):
    acc = client.emu.seed("account", {"name": "A"})
    other = client.emu.seed("account", {"name": "B"})
    o1 = client.emu.seed("opportunity", {"name": "old", "parentaccountid": acc})
    o2 = client.emu.seed("opportunity", {"name": "won", "parentaccountid": acc, "statecode": 1})
    client.emu.seed("opportunity", {"name": "elsewhere", "parentaccountid": other})
    r = client.get(f"opportunities?$filter=_parentaccountid_value eq {acc}&$select=name,_parentaccountid_value")
    assert sorted(x["name"] for x in r.json()["value"]) == ["old", "won"]
    assert r.json()["value"][0]["_parentaccountid_value"] == acc
    f = (f"Microsoft.Dynamics.CRM.In(PropertyName='parentaccountid',PropertyValues=[\"{acc.upper()}\"]) "
         "and statecode eq 0")
    r = client.get("opportunities?$filter=" + quote(f) + "&$orderby=createdon desc")
    assert [x["opportunityid"] for x in r.json()["value"]] == [o1]
    # a GUID compared with a string literal is a type error, like the real service
    r = client.get(f"opportunities?$filter=_parentaccountid_value eq '{acc}'")
    assert r.status_code == 400 and "incompatible types" in error_of(r)[1]
    assert o2


def test_orderby_multiple_keys_top_and_count(people):
    client, _ = people
    r = q(client, "$orderby=firstname asc,lastname desc&$count=true&$top=3")
    assert names(r) == ["L2", "L1", "L3"]
    assert r.json()["@odata.count"] == 5


def test_skip_is_not_supported(people):
    client, _ = people
    r = q(client, "$skip=1")
    assert r.status_code == 400 and "$skip" in error_of(r)[1]


def test_paging_with_maxpagesize_and_opaque_skiptoken(people):
    client, _ = people
    h = {"Prefer": "odata.maxpagesize=2"}
    r = client.get("contacts?$select=lastname&$orderby=lastname", headers=h)
    assert r.headers["Preference-Applied"] == "odata.maxpagesize=2"
    seen = names(r)
    link = r.json()["@odata.nextLink"]
    assert "$skiptoken=" in link and link.startswith(client.root + "contacts?")
    while link:
        r = client.get(link, headers=h)
        seen += names(r)
        link = r.json().get("@odata.nextLink")
    assert seen == ["L0", "L1", "L2", "L3", "L4"]


def test_get_single_and_missing(client):
    cid = client.create("contacts", {"lastname": "x"})
    r = client.get(f"contacts({cid})?$select=lastname")
    assert r.json()["@odata.context"].endswith("$metadata#contacts(lastname)/$entity")
    etag = r.json()["@odata.etag"]
    assert client.get(f"contacts({cid})", headers={"If-None-Match": etag}).status_code == 304
    r = client.get("contacts(00000000-0000-0000-0000-000000000009)")
    assert r.status_code == 404 and error_of(r)[0] == "0x80040217"


def test_queries_the_sync_makes(client):
    client.emu.seed("systemuser", {"internalemailaddress": "me@corp.com"})
    client.emu.seed("lead", {"emailaddress1": "lead@x.com", "lastname": "L"})
    client.emu.seed("account", {"name": "Contoso", "websiteurl": "contoso.com", "emailaddress1": "info@contoso.com"})
    client.emu.seed("incident", {"title": "T", "ticketnumber": "CAS-1"})
    eid = client.create("emails", {"subject": "s", "messageid": "<m1@x>"})

    def inq(entity_set, prop, values, extra=""):
        vals = ",".join('"' + v + '"' for v in values)
        f = f"Microsoft.Dynamics.CRM.In(PropertyName='{prop}',PropertyValues=[{vals}])"
        r = client.get(f"{entity_set}?$filter=" + quote(f) + extra)
        assert r.status_code == 200, r.text
        return r.json()["value"]

    assert len(inq("systemusers", "internalemailaddress", ["ME@corp.com"])) == 1
    assert len(inq("leads", "emailaddress1", ["lead@x.com"])) == 1
    assert len(inq("accounts", "websiteurl", ["contoso.com"])) == 1
    assert len(inq("accounts", "emailaddress1", ["info@contoso.com"])) == 1
    assert len(inq("incidents", "ticketnumber", ["CAS-1"])) == 1
    rows = inq("emails", "messageid", ["<m1@x>"], "&$select=activityid,messageid,statecode")
    assert rows == [{"@odata.etag": rows[0]["@odata.etag"], "activityid": eid, "messageid": "<m1@x>",
                     "statecode": 0}]
    for col in ("emailaddress2", "emailaddress3"):
        assert inq("contacts", col, ["nobody@x.com"]) == []


def test_syntax_error(people):
    client, _ = people
    r = q(client, "$filter=lastname eq")
    assert r.status_code == 400 and error_of(r)[1].startswith("Syntax error at position")


def test_top_with_maxpagesize_gives_no_next_link(people):
    client, _ = people
    r = client.get("contacts?$top=3&$orderby=lastname", headers={"Prefer": "odata.maxpagesize=2"})
    assert names(r) == ["L0", "L1"] and "@odata.nextLink" not in r.json()


def test_lookup_annotations_on_request(client):
    acc = client.emu.seed("account", {"name": "A"})
    client.create("contacts", {"parentcustomerid_account@odata.bind": f"/accounts({acc})"})
    r = client.get("contacts?$select=_parentcustomerid_value",
                   headers={"Prefer": 'odata.include-annotations="*"'})
    row = r.json()["value"][0]
    assert row["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert row["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] == \
        "parentcustomerid_account"


def test_string_functions_are_like_patterns():
    """contains/startswith/endswith run as SQL LIKE on the service: % _ [..] [^..] are wildcards
    and a bracketed wildcard is literal (what mail2dataverse.lookup.escape_like relies on)."""
    from mail2dataverse.emulator.filters import like_pattern

    def hit(function: str, value: str, text: str) -> bool:
        return like_pattern(function, value).fullmatch(text.casefold()) is not None

    assert hit("contains", "5%s", "500 seats") and not hit("contains", "5[%]s", "500 seats")
    assert hit("contains", "5[%]s", "a 5%s b")
    assert hit("contains", "a_b", "axb") and not hit("contains", "a[_]b", "axb")
    assert hit("contains", "[xy] deal", "y deal") and not hit("contains", "[[]xy] deal", "y deal")
    assert hit("contains", "[[]xy] deal", "[xy] deal")
    assert hit("contains", "[^a]bc", "xbc") and not hit("contains", "[^a]bc", "abc")
    assert hit("startswith", "PO", "po-1") and not hit("startswith", "PO", "x po-1")
    assert hit("endswith", "-1", "po-1") and not hit("endswith", "-1", "po-12")
    assert hit("contains", "ab[c", "xab[cx")  # an unclosed bracket is a plain character
