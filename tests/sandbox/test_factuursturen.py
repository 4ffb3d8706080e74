"""FactuurSturen simulator over real HTTP: auth, quirks, paging, quota."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx

from sandbox import FactuurSturenSim, FakeClock, SandboxServer
from sandbox.data import GB
from sandbox.seed import FS_API_KEY, FS_LOGIN

JSON = {"Accept": "application/json"}


def client(srv: SandboxServer, auth: tuple[str, str] = (FS_LOGIN, FS_API_KEY)) -> httpx.Client:
    return httpx.Client(base_url=srv.factuursturen_url + "/api/v1/", auth=auth, headers=JSON, timeout=5)


def test_wrong_key_is_401(server: SandboxServer) -> None:
    with client(server, (FS_LOGIN, "wrong")) as c:
        r = c.get("invoices")
    assert r.status_code == 401
    assert r.json() == {"error": "Authentication failed"}


def test_revoked_key_is_401(server: SandboxServer, fs: FactuurSturenSim) -> None:
    fs.revoke_api_key(FS_LOGIN)
    with client(server) as c:
        assert c.get("clients").status_code == 401


def test_xml_without_json_accept(server: SandboxServer) -> None:
    with httpx.Client(auth=(FS_LOGIN, FS_API_KEY)) as c:  # httpx sends Accept: */*
        r = c.get(server.factuursturen_url + "/api/v1/invoices", params={"count": 1})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/xml")
    assert r.text.startswith("<?xml")


def test_invoice_json_quirks(server: SandboxServer, fs: FactuurSturenSim) -> None:
    cl = fs.add_client("Voorbeeld BV")
    inv = fs.add_invoice(cl.clientnr, [(4, "13", 21, "Appels")], sent="2026-01-05")
    with client(server) as c:
        r = c.get(f"invoices/{inv.id}")
    raw = json.loads(r.text, parse_float=Decimal)["invoice"]
    assert raw["id"] == str(inv.id) and raw["clientnr"] == str(cl.clientnr)
    assert raw["tax"] == "10.92" and raw["totalintax"] == "62.92" and raw["open"] == "62.92"
    assert raw["lines"] == {
        "line1": {
            "amount": 4,
            "amount_desc": "",
            "description": "Appels",
            "tax_rate": 21,
            "price": 13,
            "discount_pct": 0,
            "linetotal": 52,
        }
    }
    assert raw["taxes"] == {"tax1": {"rate": 21, "sum": "10.92", "sum_of": "52.00"}}
    assert list(raw["history"]) == ["item1"]
    assert raw["paiddate"] == "" and raw["tax_shifted"] == "0" and raw["country"] == "146"
    assert "currency" not in raw


def test_legacy_invoice_has_empty_arrays(server: SandboxServer, fs: FactuurSturenSim) -> None:
    cl = fs.add_client("Oud BV")
    inv = fs.add_invoice(cl.clientnr, [], legacy=True, sent="2026-01-06")
    with client(server) as c:
        raw = c.get(f"invoices/{inv.id}").json()["invoice"]
    assert raw["lines"] == [] and raw["taxes"] == [] and raw["history"] == []
    assert raw["totalintax"] == "0.00"


def test_foreign_currency_and_credit_note(server: SandboxServer, fs: FactuurSturenSim) -> None:
    cl = fs.add_client("Acme Ltd", country=GB, taxnumber="")
    usd = fs.add_invoice(cl.clientnr, [(2, "100", 0, "Consulting")], currency="USD", sent="2026-01-07")
    credit = fs.add_invoice(cl.clientnr, [(-1, "100", 0, "Credit")], currency="USD", sent="2026-01-07")
    with client(server) as c:
        assert c.get(f"invoices/{usd.id}").json()["invoice"]["currency"] == "USD"
        raw = c.get(f"invoices/{credit.id}").json()["invoice"]
    assert raw["totalintax"] == "-100.00" and raw["lines"]["line1"]["amount"] == -1


def _all_pages(c: httpx.Client, count: int, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = c.get("invoices", params={"count": count, "offset": offset, **params}).json()
        out += page
        if len(page) < count:
            return out
        offset += count


def test_paging_and_since(server: SandboxServer, fs: FactuurSturenSim) -> None:
    with client(server) as c:
        everything = _all_pages(c, 250)
        assert len(everything) == len(fs.invoices)
        keys = [(i["sent"], int(i["id"])) for i in everything]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        since = "2025-11-15"
        recent = _all_pages(c, 100, since=since)
        assert recent and all(i["sent"] >= since for i in recent)
        assert len(recent) == sum(1 for i in fs.invoices if i.sent >= since)
        window = _all_pages(c, 100, since="2025-11-01", until="2025-11-30")
        assert all("2025-11-01" <= i["sent"] <= "2025-11-30" for i in window)
        assert c.get("invoices", params={"count": 251}).status_code == 400
        paid = c.get("invoices", params={"count": 50, "filter": "paid"}).json()
        assert all(i["open"] == "0.00" for i in paid)


def test_clients_taxes_countrylist(server: SandboxServer, fs: FactuurSturenSim) -> None:
    with client(server) as c:
        clients = c.get("clients").json()
        assert len(clients) == len(fs.clients)
        one = c.get(f"clients/{clients[0]['clientnr']}").json()["client"]
        assert set(one) >= {
            "clientnr",
            "company",
            "contact",
            "address",
            "zipcode",
            "city",
            "country",
            "email",
        }
        assert set(one) >= {"taxnumber", "bankcode"} and not set(one) & {"kvk", "iban"}
        assert c.get("clients/999999").status_code == 404
        assert {t["percentage"] for t in c.get("taxes").json()} == {"21", "9", "0"}
        listed = c.get("countrylist").json()
        assert all(set(x) == {"id", "name"} for x in listed)  # no ISO field, as the real list
        countries = {x["id"]: x["name"] for x in listed}
        assert countries["146"] == "Nederland" and countries["18"] == "België"
        assert countries["50"] == "Duitsland" and countries["226"] == "Verenigde Staten"


def test_hourly_quota_429_and_reset(clock: FakeClock) -> None:
    fs = FactuurSturenSim({FS_LOGIN: FS_API_KEY}, quota_per_hour=3, clock=clock)
    with SandboxServer(factuursturen=fs) as srv, client(srv) as c:
        remaining = [c.get("taxes").headers["x-ratelimit-remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        r = c.get("taxes")
        assert r.status_code == 429
        assert r.json() == {"error": "Rate limit exceeded"}
        assert r.headers["Retry-After"] == "1800"  # the fake clock is at hh:30
        clock.advance(1800)
        r = c.get("taxes")
        assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "2"
