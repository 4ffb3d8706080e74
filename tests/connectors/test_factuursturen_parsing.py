"""FactuurSturen payload quirks, fed as recorded-shape JSON through an in-process transport."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.contract import Health, RateLimit, SourceRecord, Stream
from connectors.factuursturen import FactuurSturenSource
from connectors.model import VatCategory

CLIENTS: list[dict[str, Any]] = [
    {"clientnr": "42", "company": "Voorbeeld BV", "country": "146", "taxnumber": "NL000099998B57"},
    {"clientnr": 7, "company": "Klant Zeven", "country": 146},
]
# The real `countrylist` shape: id and Dutch name only (real ids, docs/protocol-decisions.md).
COUNTRIES = [
    {"id": "146", "name": "Nederland"},
    {"id": "18", "name": "België"},
    {"id": "50", "name": "Duitsland"},
    {"id": "226", "name": "Verenigde Staten"},
    {"id": "999", "name": "Atlantis"},
]


def invoice(nr: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": nr,
        "invoicenr_full": nr,
        "invoicenr": nr,
        "reference": {"line1": "Project X", "line2": "", "line3": ""},
        "lines": {
            "line1": {"amount": 4, "description": "Appels", "tax_rate": 21, "price": 13, "linetotal": 52}
        },
        "tax": "10.92",
        "totalintax": "62.92",
        "clientnr": "42",
        "company": "Voorbeeld BV",
        "country": "146",
        "sent": "2017-05-09",
        "duedate": "2017-05-23",
        "paiddate": "",
        "taxes": {"tax1": {"rate": 21, "sum": "10.92", "sum_of": "52.00"}},
        "history": {"item1": {"date": "2017-05-09", "time": "10:56", "description": "verstuurd"}},
    }
    base.update(overrides)
    return base


def source(
    pages: list[list[Any]],
    seen: list[httpx.Request],
    page_size: int = 2,
    clients: list[dict[str, Any]] = CLIENTS,
) -> FactuurSturenSource:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path.removeprefix("/api/v1/")
        if request.headers.get("accept") != "application/json":
            return httpx.Response(200, content=b"<xml/>")
        if path == "invoices":
            offset = int(request.url.params.get("offset", "0"))
            return httpx.Response(200, content=json.dumps(pages[offset // page_size]).encode())
        if path == "clients":
            return httpx.Response(200, json=clients)
        if path == "countrylist":
            return httpx.Response(200, json=COUNTRIES)
        return httpx.Response(404, json={"error": "not found"})

    return FactuurSturenSource(
        "user",
        SecretStr("key"),
        base_url="https://fs.test/api/v1/",
        page_size=page_size,
        rate_limit=RateLimit(per_second=1000),
        transport=httpx.MockTransport(handler),
    )


async def read_all(src: FactuurSturenSource, cursor: str | None = None) -> list[SourceRecord]:
    return [record async for page in src.read(Stream.INVOICES, "", cursor) for record in page]


async def test_quirks_parse_to_the_canonical_model() -> None:
    legacy = invoice("F2", lines=[], taxes=[], tax="0", totalintax="0.00")  # legacy empty arrays
    multi = invoice(
        "F3",
        lines={
            "line10": {"description": "tien", "tax_rate": "9", "linetotal": "10.00"},
            "line2": {"description": "twee", "tax_rate": 21, "linetotal": 100.5},
        },
        taxes={
            "tax2": {"rate": "9", "sum": "0.90", "sum_of": "10.00"},
            "tax1": {"rate": 21, "sum": 21.11, "sum_of": 100.5},
        },
        tax="22.01",
        totalintax=132.51,
        duedate="",
        currency="usd",
        clientnr=7,
    )
    seen: list[httpx.Request] = []
    records = await read_all(source([[invoice("F1"), legacy], [multi]], seen), "2017-05-01")
    assert [r.problem for r in records] == [None, None, None]
    first, second, third = (r.payload for r in records)
    assert first is not None and second is not None and third is not None
    assert first.total_gross == Decimal("62.92") and first.lines[0].net_amount == Decimal(52)
    assert first.party.vat_number == "NL000099998B57" and first.party.country == "NL"
    assert first.description == "Project X" and records[0].cursor_key == "2017-05-09"
    assert second.lines == () and second.total_gross == 0
    assert [ln.description for ln in third.lines] == ["twee", "tien"]  # by key number, not text order
    assert third.due_date is None and third.currency == "USD" and third.party.name == "Klant Zeven"
    # one page call per page + clients + countrylist, each once
    paths = [r.url.path for r in seen]
    assert paths.count("/api/v1/clients") == 1 and paths.count("/api/v1/countrylist") == 1
    assert seen[0].url.params["since"] == "2017-05-01" and seen[0].url.params["count"] == "2"


async def test_reverse_charge_and_credit_note() -> None:
    shifted = invoice(
        "F4",
        tax_shifted="1",
        lines={"line1": {"description": "Dienst", "tax_rate": 0, "linetotal": "-250.00"}},
        taxes={"tax1": {"rate": 0, "sum": "0.00", "sum_of": "-250.00"}},
        tax="0.00",
        totalintax="-250.00",
    )
    records = await read_all(source([[shifted]], []))
    inv = records[0].payload
    assert inv is not None and inv.credit_note
    assert inv.lines[0].vat_category is VatCategory.REVERSE_CHARGE
    assert inv.vat[0].category is VatCategory.REVERSE_CHARGE


async def test_bad_records_become_problems_not_gaps() -> None:
    wrong_total = invoice("F5", totalintax="63.92")
    bad_amount = invoice("F6", tax="tien")
    bad_flag = invoice("F7", tax_shifted="misschien")
    records = await read_all(source([[wrong_total, bad_amount], [bad_flag, "garbage"], []], []))
    assert [r.payload for r in records] == [None, None, None, None]
    problems = [r.problem for r in records]
    assert all(p is not None for p in problems)
    assert problems[0] is not None and "F5" in problems[0].message and "1.00" in problems[0].message
    assert problems[1] is not None and problems[1].field == "tax"
    assert problems[2] is not None and problems[2].field == "tax_shifted"
    assert problems[3] is not None and problems[3].record_id == "#3"


async def test_no_new_invoices_costs_one_request_and_no_lookups() -> None:
    seen: list[httpx.Request] = []
    src = source([[]], seen)
    assert (await src.check()).health is Health.OK
    assert await read_all(src, "2030-01-01") == []
    assert len(seen) == 2 and src.client.request_count == 2  # check + one page


async def test_only_the_invoices_stream_is_offered() -> None:
    src = source([[invoice("F1")]], [])
    assert src.streams == {Stream.INVOICES}
    with pytest.raises(ValueError, match="balances"):
        await anext(aiter(src.read(Stream.BALANCES, "", None)))


async def test_country_ids_are_named_by_the_countrylist_and_the_iban_is_the_bankcode() -> None:
    """The real client model: IBAN under `bankcode`, no `kvk`; `countrylist` has id + Dutch name only."""
    clients: list[dict[str, Any]] = [
        {"clientnr": "18", "company": "Anker NV", "country": "18", "bankcode": "BE68539007547034"},
        {"clientnr": "50", "company": "Müller GmbH", "country": 50},
        {"clientnr": "226", "company": "Acme Corp", "country": "226"},
        {"clientnr": "999", "company": "Atlantis Ltd", "country": "999"},
        {"clientnr": "404", "company": "Nergens BV", "country": "404"},
    ]
    page = [invoice(f"F{c['clientnr']}", clientnr=c["clientnr"]) for c in clients]
    records = await read_all(source([page], [], page_size=10, clients=clients))
    be, de, us, atlantis, unknown = records
    assert be.payload is not None and be.payload.party.country == "BE"
    assert be.payload.party.iban == "BE68539007547034" and be.payload.party.coc_number == ""
    assert de.payload is not None and de.payload.party.country == "DE"
    assert us.payload is not None and us.payload.party.country == "US"
    assert atlantis.problem is not None and "'Atlantis'" in atlantis.problem.message
    assert unknown.problem is not None and "land-id 404" in unknown.problem.message
    assert unknown.problem.field == "country"
