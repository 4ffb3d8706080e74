"""e-Boekhouden REST simulator: sessions, lists and filters, booking rules and error codes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from sandbox import EBoekhoudenSim, FakeClock, SandboxServer
from sandbox.eb_store import BookError
from sandbox.seed import EB_API_TOKEN
from tests.sandbox.helpers import eb_client, sales_invoice

ERROR_KEYS = {"type", "code", "title", "message", "status", "traceId"}


def session(c: httpx.Client, token: str = EB_API_TOKEN, source: str = "Koppelaar") -> httpx.Response:
    return c.post("/v1/session", json={"accessToken": token, "source": source})


def test_session_errors(server: SandboxServer, eb: EBoekhoudenSim, clock: FakeClock) -> None:
    eb.add_api_token("be-token", domain="BE")
    eb.add_api_token("old-token", expires_at=clock() - 1)
    with httpx.Client(base_url=server.eboekhouden_url) as c:
        assert session(c, source="bad source!").json()["code"] == "API_SESSION_002"
        assert c.post("/v1/session", json={"source": "x"}).json()["code"] == "API_SESSION_003"
        r = session(c, token="nope")
        assert (
            r.status_code == 401 and r.json()["code"] == "API_SESSION_004" and r.json()["type"] == "security"
        )
        assert set(r.json()) >= ERROR_KEYS and "errors" not in r.json()
        assert session(c, token="old-token").json()["code"] == "API_SESSION_004"
        assert session(c, token="be-token").json()["code"] == "SECURITY_011"
        r = c.get("/v1/ledger")
        assert r.status_code == 401 and r.json()["code"] == "SECURITY_010"
        token = session(c).json()["token"]
        assert c.get("/v1/ledger", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert c.get("/v1/ledger", headers={"Authorization": token}).status_code == 200
        clock.advance(3601)
        assert c.get("/v1/ledger", headers={"Authorization": token}).json()["code"] == "SECURITY_010"


def test_revoked_token(server: SandboxServer, eb: EBoekhoudenSim) -> None:
    with eb_client(server.eboekhouden_url) as c:
        eb.revoke_token(EB_API_TOKEN)
        assert c.get("/v1/administration").json()["code"] == "SECURITY_010"
        assert session(c).json()["code"] == "API_SESSION_004"


def test_administration_and_ledgers(server: SandboxServer, eb: EBoekhoudenSim) -> None:
    with eb_client(server.eboekhouden_url) as c:
        admin = c.get("/v1/administration").json()
        assert admin == {"items": [{"guid": eb.default.guid, "company": eb.default.company}], "count": 1}
        found = c.get("/v1/ledger", params={"code": "1300"}).json()
        assert found["count"] == 1 and found["items"][0]["category"] == "DEB"
        assert found["items"][0]["id"] == eb.ledger_id("1300")
        page1 = c.get("/v1/ledger", params={"limit": 5, "offset": 0}).json()
        page2 = c.get("/v1/ledger", params={"limit": 5, "offset": 5}).json()
        assert page1["count"] == len(eb.ledgers) and len(page1["items"]) == 5
        assert {x["id"] for x in page1["items"]}.isdisjoint({x["id"] for x in page2["items"]})
        costs = c.get("/v1/ledger", params={"code[like]": "4%"}).json()["items"]
        assert costs and all(x["code"].startswith("4") and x["category"] == "VW" for x in costs)
        assert c.get("/v1/ledger", params={"limit": 2001}).json()["code"] == "PAGE_001"
        assert c.get("/v1/ledger", params={"offset": -1}).json()["code"] == "PAGE_002"
        assert c.get("/v1/ledger", params={"kode": "1300"}).json()["code"] == "FILTER_001"


def test_relations(server: SandboxServer, eb: EBoekhoudenSim) -> None:
    with eb_client(server.eboekhouden_url) as c:
        body = {"type": "B", "code": "KLANT01", "name": "Voorbeeld BV", "vatNumber": "NL004495445B01"}
        r = c.post("/v1/relation", json=body)
        assert r.status_code == 200
        rid = r.json()["id"]
        dup = c.post("/v1/relation", json=body)
        assert dup.status_code == 400 and dup.json()["code"] == "REL_049"
        assert dup.json()["errors"][0]["code"] == "REL_049"
        assert (
            c.post("/v1/relation", json={**body, "code": "K2", "companyRegistrationNumber": "12ab"}).json()[
                "code"
            ]
            == "REL_008"
        )
        found = c.get("/v1/relation", params={"code": "KLANT01"}).json()
        assert found["count"] == 1 and found["items"][0]["id"] == rid
        assert c.get("/v1/relation", params={"code": "NOPE"}).json() == {"items": [], "count": 0}
        assert c.get(f"/v1/relation/{rid}").json()["vatNumber"] == "NL004495445B01"
        # As the OpenAPI: a list item is id, type and code; there is no VAT-number filter.
        assert c.get("/v1/relation", params={"name": "Voorbeeld BV"}).json()["items"] == [
            {"id": rid, "type": "B", "code": "KLANT01"}
        ]
        assert c.get("/v1/relation", params={"vatNumber": "NL004495445B01"}).json()["code"] == "FILTER_001"
    assert eb.relations[0].code == "KLANT01"


@pytest.fixture
def rel(eb: EBoekhoudenSim) -> int:
    return eb.add_relation("KLANT01", "Voorbeeld BV").id


def test_book_sales_invoice_and_read_back(server: SandboxServer, eb: EBoekhoudenSim, rel: int) -> None:
    body = sales_invoice(eb, rel)
    body["rows"] = [
        {
            "ledgerId": eb.ledger_id("8000"),
            "vatCode": "HOOG_VERK_21",
            "amount": "100.05",
            "description": "Advies",
        },
        {
            "ledgerId": eb.ledger_id("8010"),
            "vatCode": "LAAG_VERK_9",
            "amount": "10.50",
            "description": "Boeken",
        },
        {
            "ledgerId": eb.ledger_id("8020"),
            "vatCode": "VERL_VERK",
            "amount": "50.00",
            "description": "Verlegd",
        },
    ]
    with eb_client(server.eboekhouden_url) as c:
        r = c.post("/v1/mutation", json=body)
        assert r.status_code == 200, r.text
        mid = r.json()["id"]
        full = c.get(f"/v1/mutation/{mid}").json()
        thin = c.get("/v1/mutation", params={"invoiceNumber": "F2026-00013", "type": 2}).json()
    assert full["type"] == 2 and full["inExVat"] == "EX" and len(full["rows"]) == 3
    vat = {v["vatCode"]: Decimal(str(v["amount"])) for v in full["vat"]}
    # 100.05 × 21% = 21.0105 → 21.01; 10.50 × 9% = 0.945 → 0.95 (half up); verlegd 0
    assert vat == {
        "HOOG_VERK_21": Decimal("21.01"),
        "LAAG_VERK_9": Decimal("0.95"),
        "VERL_VERK": Decimal("0.00"),
    }
    assert thin["count"] == 1 and set(thin["items"][0]) >= {"id", "type", "date", "invoiceNumber", "ledgerId"}
    assert "relationId" not in thin["items"][0] and full["relationId"] == rel  # MutationListItem has none
    assert Decimal(str(thin["items"][0]["amount"])) == Decimal("182.51")
    m = eb.mutations[0]
    assert m.relation_id == rel and m.invoice_number == "F2026-00013" and m.type == 2 and m.via == "rest"
    assert [r.vat_amount for r in m.rows] == [Decimal("21.01"), Decimal("0.95"), Decimal("0.00")]


def test_vat_in_and_afwijkend(server: SandboxServer, eb: EBoekhoudenSim, rel: int) -> None:
    row = {"ledgerId": eb.ledger_id("8000"), "vatCode": "HOOG_VERK_21", "amount": "121.00"}
    afw = {"ledgerId": eb.ledger_id("8000"), "vatCode": "AFW_VERK", "amount": "100.00", "vatAmount": "20.99"}
    with eb_client(server.eboekhouden_url) as c:
        assert (
            c.post("/v1/mutation", json=sales_invoice(eb, rel, "F1", inExVat="IN", rows=[row])).status_code
            == 200
        )
        assert c.post("/v1/mutation", json=sales_invoice(eb, rel, "F2", rows=[afw])).status_code == 200
    assert eb.mutations[0].rows[0].vat_amount == Decimal("21.00")  # 121 × 21/121
    assert eb.mutations[0].amount == Decimal("121.00")
    assert eb.mutations[1].vat == [("AFW_VERK", Decimal("20.99"))]


def test_duplicates_mut_020_and_mut_019(server: SandboxServer, eb: EBoekhoudenSim, rel: int) -> None:
    other = eb.add_relation("KLANT02", "Ander BV").id
    with eb_client(server.eboekhouden_url) as c:
        assert c.post("/v1/mutation", json=sales_invoice(eb, rel)).status_code == 200
        same = c.post("/v1/mutation", json=sales_invoice(eb, rel))
        assert same.status_code == 400 and same.json()["code"] == "MUT_020"
        other_rel = c.post("/v1/mutation", json=sales_invoice(eb, other))
        assert other_rel.json()["code"] == "MUT_019" and other_rel.json()["propertyName"] == "invoiceNumber"
        # Purchase invoices: the same number from two suppliers is fine; twice from one is MUT_020.
        purchase = {
            "type": 1,
            "ledgerId": eb.ledger_id("1600"),
            "rows": [{"ledgerId": eb.ledger_id("4300"), "vatCode": "HOOG_INK_21", "amount": "10.00"}],
        }
        assert c.post("/v1/mutation", json=sales_invoice(eb, rel, "INK-1", **purchase)).status_code == 200
        assert c.post("/v1/mutation", json=sales_invoice(eb, other, "INK-1", **purchase)).status_code == 200
        assert (
            c.post("/v1/mutation", json=sales_invoice(eb, rel, "INK-1", **purchase)).json()["code"]
            == "MUT_020"
        )
    assert len(eb.mutations) == 3


def _row(eb: EBoekhoudenSim, **over: Any) -> list[dict[str, Any]]:
    return [{"ledgerId": eb.ledger_id("8000"), "vatCode": "HOOG_VERK_21", "amount": "10.00", **over}]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"invoiceNumber": ""}, "MUT_002"),
        ({"type": 9}, "MUT_001"),
        ({"type": "2"}, "MUT_001"),  # an integer enum in the OpenAPI: a string does not bind
        ({"date": "21-01-2026"}, "MUT_003"),
        ({"ledgerId": 1}, "MUT_007"),
        ({"ledgerId": "@8000"}, "MUT_008"),  # header must be the debtors ledger for type 2
        ({"relationId": None}, "MUT_012"),
        ({"relationId": 1}, "MUT_013"),
        ({"inExVat": "INCL"}, "MUT_017"),
        ({"rows": []}, "MUT_100"),
        ({"rows": "@row", "_row": {"ledgerId": 1}}, "MUT_007"),
        ({"rows": "@row", "_row": {"ledgerId": "@1100"}}, "MUT_112"),
        ({"rows": "@row", "_row": {"vatCode": "HOOG_21"}}, "MUT_109"),
        ({"rows": "@row", "_row": {"vatCode": "HOOG_INK_21"}}, "MUT_111"),
        ({"rows": "@row", "_row": {"vatCode": "BI_EU_VERK"}}, "MUT_111"),  # a purchase code per the spec
        ({"rows": "@row", "_row": {"vatAmount": "2.10"}}, "MUTA_003"),
        ({"rows": "@row", "_row": {"vatCode": "AFW_VERK"}}, "MUTA_004"),
        ({"rows": "@row", "_row": {"amount": "10.005"}}, "MUT_104"),
        ({"rows": "@row", "_row": {"costCenterId": 411999}}, "MUT_113"),  # no such kostenplaats
        ({"rows": "@row", "_row": {"costCenterId": "411602"}}, "MUT_113"),  # an id is a JSON integer
    ],
)
def test_validation_codes(
    server: SandboxServer, eb: EBoekhoudenSim, rel: int, change: dict[str, Any], code: str
) -> None:
    body = sales_invoice(eb, rel)
    for key, value in change.items():
        if key == "_row":
            continue
        if value == "@row":
            value = _row(eb, **{k: (eb.ledger_id(v[1:]) if isinstance(v, str) and v.startswith("@") else v)
                                for k, v in change["_row"].items()})  # fmt: skip
        elif isinstance(value, str) and value.startswith("@"):
            value = eb.ledger_id(value[1:])
        body[key] = value
    with eb_client(server.eboekhouden_url) as c:
        r = c.post("/v1/mutation", json=body)
    assert r.status_code == 400, r.text
    err = r.json()
    assert err["code"] == code and err["type"] == "validation" and err["status"] == 400
    assert set(err) >= ERROR_KEYS | {"propertyName", "errors"}
    assert eb.mutations == []


def test_purchase_codes_and_payments(server: SandboxServer, eb: EBoekhoudenSim, rel: int) -> None:
    purchase = sales_invoice(eb, rel, "INK-9", type=1, ledgerId=eb.ledger_id("1600"))
    purchase["rows"] = [{"ledgerId": eb.ledger_id("4300"), "vatCode": "HOOG_VERK_21", "amount": "10.00"}]
    reverse = sales_invoice(eb, rel, "INK-10", type=1, ledgerId=eb.ledger_id("1600"), inExVat="IN")
    reverse["rows"] = [{"ledgerId": eb.ledger_id("4300"), "vatCode": "VERL_INK", "amount": "10.00"}]
    pay_row: dict[str, Any] = {"ledgerId": eb.ledger_id("1300"), "vatCode": "GEEN", "amount": "121.00"}
    payment: dict[str, Any] = {
        "type": 3,
        "date": "2026-02-01",
        "ledgerId": eb.ledger_id("1100"),
        "relationId": rel,
        "inExVat": "EX",
        "rows": [pay_row],
    }
    with eb_client(server.eboekhouden_url) as c:
        assert c.post("/v1/mutation", json=purchase).json()["code"] == "MUT_110"
        assert c.post("/v1/mutation", json=reverse).json()["code"] == "MUT_026"
        assert c.post("/v1/mutation", json=payment).json()["code"] == "MUT_002"
        pay_row["invoiceNumber"] = "F2026-00013,F2026-00014"
        r = c.post("/v1/mutation", json=payment)
        assert r.status_code == 200, r.text
        assert c.get(f"/v1/mutation/{r.json()['id']}").json()["vat"] == []


def test_closed_period(server: SandboxServer, eb: EBoekhoudenSim, rel: int) -> None:
    eb.close_period("2025-12-31")
    with eb_client(server.eboekhouden_url) as c:
        assert (
            c.post("/v1/mutation", json=sales_invoice(eb, rel, date="2025-12-31")).json()["code"] == "MUT_005"
        )
        assert c.post("/v1/mutation", json=sales_invoice(eb, rel, date="2026-01-01")).status_code == 200


def test_mutation_list_filters_and_paging(server: SandboxServer, eb: EBoekhoudenSim, rel: int) -> None:
    for i in range(12):
        eb.book(sales_invoice(eb, rel, f"F2026-{i:05d}", date=f"2026-01-{i + 1:02d}"))
    with eb_client(server.eboekhouden_url) as c:
        page = c.get("/v1/mutation", params={"limit": 5, "offset": 10}).json()
        assert page["count"] == 12 and [m["id"] for m in page["items"]] == [11, 12]
        jan = c.get("/v1/mutation", params={"date[range]": "2026-01-03,2026-01-05"}).json()
        assert [m["invoiceNumber"] for m in jan["items"]] == ["F2026-00002", "F2026-00003", "F2026-00004"]
        assert c.get("/v1/mutation", params={"type": 1}).json()["count"] == 0
        assert c.get("/v1/mutation", params={"invoiceNumber[like]": "F2026-0001%"}).json()["count"] == 2
        assert c.get("/v1/mutation/999").status_code == 404


def test_cost_centers_list_paging_and_filters(server: SandboxServer, eb: EBoekhoudenSim) -> None:
    with eb_client(server.eboekhouden_url) as c:
        everything = c.get("/v1/costcenter").json()
        page = c.get("/v1/costcenter", params={"limit": 2, "offset": 4}).json()
        advies = c.get("/v1/costcenter", params={"description": "advies"}).json()["items"]
        parent = next(i["id"] for i in everything["items"] if i["description"] == "Detachering")
        children = c.get("/v1/costcenter", params={"parentId": parent}).json()["items"]
        assert c.get("/v1/costcenter", params={"limit": 0}).json()["code"] == "PAGE_001"
        assert c.get("/v1/costcenter", params={"code": "KP1"}).json()["code"] == "FILTER_001"
    with httpx.Client(base_url=server.eboekhouden_url) as anonymous:
        refused = anonymous.get("/v1/costcenter")
        assert refused.status_code == 401 and refused.json()["code"] == "SECURITY_010"

    assert everything["count"] == 5
    assert [(i["description"], i["active"]) for i in everything["items"]] == [
        ("Algemeen", True),
        ("Advies", True),
        ("Detachering", True),
        ("Projecten Zuid", True),
        ("Vestiging Tilburg", False),
    ]
    assert set(everything["items"][0]) == {"id", "description", "parentId", "active"}
    assert [i["id"] for i in everything["items"]] == sorted(c.id for c in eb.cost_centers)
    assert page["count"] == 5 and [i["description"] for i in page["items"]] == ["Vestiging Tilburg"]
    assert [i["description"] for i in advies] == ["Advies"]
    assert [(i["description"], i["parentId"]) for i in children] == [("Projecten Zuid", parent)]


def test_cost_center_list_is_rate_limited_like_every_call(clock: FakeClock) -> None:
    eb = EBoekhoudenSim(rate_limit=2, clock=clock)
    eb.add_api_token(EB_API_TOKEN)
    with SandboxServer(eboekhouden=eb) as srv, eb_client(srv.eboekhouden_url) as c:  # the session: 1
        assert c.get("/v1/costcenter").status_code == 200
        limited = c.get("/v1/costcenter")
        assert limited.status_code == 429 and limited.json()["code"] == "API_RATE_001"


def test_row_cost_center_is_stored_and_read_back(server: SandboxServer, eb: EBoekhoudenSim, rel: int) -> None:
    advies = next(cc.id for cc in eb.cost_centers if cc.description == "Advies")
    body = sales_invoice(eb, rel, rows=_row(eb, costCenterId=advies) + _row(eb, costCenterId=0))
    with eb_client(server.eboekhouden_url) as c:
        r = c.post("/v1/mutation", json=body)
        assert r.status_code == 200, r.text
        rows = c.get(f"/v1/mutation/{r.json()['id']}").json()["rows"]
    assert [row.get("costCenterId") for row in rows] == [advies, None]  # 0: booked without one
    assert [row.cost_center_id for row in eb.mutations[0].rows] == [advies, None]


def test_duplicate_check_is_per_administration(eb: EBoekhoudenSim) -> None:
    second = eb.add_administration("Tweede administratie", "De Vries Vastgoed B.V.")
    for admin in (eb.default, second):
        relation = eb.add_relation("KLANT01", "Bakkerij De Vries B.V.", admin).id
        spec = sales_invoice(eb, relation, ledgerId=eb.ledger_id("1300", admin))
        spec["rows"] = _row(eb, ledgerId=eb.ledger_id("8000", admin))
        assert eb.book(spec, admin).invoice_number == "F2026-00013"  # the same number, another admin
        with pytest.raises(BookError) as again:
            eb.book(spec, admin)
        assert again.value.code == "MUT_020"
    assert len(eb.mutations) == len(second.mutations) == 1


def test_rate_limit_token_bucket(clock: FakeClock) -> None:
    eb = EBoekhoudenSim(rate_limit=2, clock=clock)
    eb.add_api_token(EB_API_TOKEN)
    with SandboxServer(eboekhouden=eb) as srv, httpx.Client(base_url=srv.eboekhouden_url) as c:
        assert session(c).status_code == 200
        assert session(c).status_code == 200
        r = session(c)
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert set(r.json()) >= ERROR_KEYS
        clock.advance(0.5)
        assert session(c).status_code == 200
