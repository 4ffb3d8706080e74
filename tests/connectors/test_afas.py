"""What is special to AFAS Profit, against its simulator over real HTTP: the environment code and token
forms, the MetaInfo check naming missing connectors, 401/403/503, ordered paging, the FiEntries body
(explicit VAT line, balance, kostenplaats, foreign currency, credit note), refusals that keep the
profitLogReference, and Amsterdam time."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.afas import Afas
from connectors.afas.client import amsterdam_time, success_fields, token_header
from connectors.afas.settings import base_url, environment
from connectors.afas.target import NEEDED_GET, _balanced
from connectors.contract import Health, RateLimit
from connectors.errors import AuthError, Origin, RejectedError, TransientError
from connectors.model import BookingLine, ForeignAmount, InvoiceKind, JournalEntry, Party
from sandbox.afas import TOKEN_DATA, AfasSim, make_afas, token_xml
from sandbox.server import SandboxServer

D = Decimal
BAKKERIJ = Party(source_id="42", name="Bakkerij De Vries B.V.", vat_number="NL004495445B01", city="Utrecht")


@pytest.fixture
def sim() -> AfasSim:
    return make_afas()


@pytest.fixture
def url(sim: AfasSim) -> Iterator[str]:
    with SandboxServer(afas=sim) as server:
        yield server.url_for("afas") + "/ProfitRestServices"


@pytest.fixture
async def afas(url: str) -> AsyncIterator[Afas]:
    target = Afas(url, SecretStr(TOKEN_DATA), administratie="1", verkoopboek="70", inkoopboek="60")
    try:
        yield target
    finally:
        await target.aclose()


def entry(number: str = "F2026-001", net: str = "100.00", vat: str = "21.00", **extra: Any) -> JournalEntry:
    line = BookingLine(
        account_code="8000",
        vat_code="1",
        vat_rate=D(21),
        net_amount=D(net),
        vat_amount=D(vat),
        description="Brood",
    )
    fields: dict[str, Any] = {
        "reference": f"factuursturen:{number}",
        "kind": InvoiceKind.SALES,
        "date": date(2026, 1, 14),
        "due_date": date(2026, 2, 13),
        "invoice_number": number,
        "description": f"Factuur {number}",
        "relation": BAKKERIJ,
        "lines": (line,),
    }
    fields.update(extra)
    return JournalEntry(**fields)


# --- connect: environment and token ---------------------------------------------------------------


def test_an_environment_code_names_the_number_and_the_kind() -> None:
    assert environment("O12345AA") == ("12345", "productie")
    assert environment("t54321ab") == ("54321", "test")
    assert environment("A12345AA") == ("12345", "accept")
    assert environment("12345", "test") == ("12345", "test")
    assert base_url("T12345AA") == "https://12345.resttest.afas.online/ProfitRestServices"
    assert base_url("O12345AA") == "https://12345.rest.afas.online/ProfitRestServices"
    with pytest.raises(ValueError, match="O12345AA"):
        environment("X12345")


def test_the_whole_token_and_its_bare_data_give_the_same_header() -> None:
    whole = token_header(SecretStr(token_xml(TOKEN_DATA)))
    bare = token_header(SecretStr(f"  {TOKEN_DATA}\n"))
    assert whole == bare
    assert base64.b64decode(whole.removeprefix("AfasToken ")).decode() == token_xml(TOKEN_DATA)


async def test_a_good_token_checks_ok_and_sends_no_connection_close(afas: Afas, sim: AfasSim) -> None:
    result = await afas.check()

    assert result.ok, result
    assert "O12345AA" in result.reason and "Koppelaar" in result.reason
    headers = sim.headers_seen[-1]
    assert headers["authorization"].startswith("AfasToken ")
    assert headers.get("connection", "").lower() != "close"
    assert TOKEN_DATA not in afas.client.last_exchange


async def test_connection_close_is_dropped_by_the_simulator_as_by_afas(url: str) -> None:
    import httpx

    header = token_header(SecretStr(TOKEN_DATA))
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.TransportError):
            await http.get(f"{url}/metainfo", headers={"Authorization": header, "Connection": "close"})


async def test_the_integration_id_goes_on_every_call(url: str, sim: AfasSim) -> None:
    target = Afas(url, SecretStr(TOKEN_DATA), administratie="1", integration_id="12345_123456")
    try:
        await target.check()
        await target.administraties()
    finally:
        await target.aclose()
    assert [h.get("integrationid") for h in sim.headers_seen[-2:]] == ["12345_123456"] * 2


# --- the check in AFAS's words ------------------------------------------------------------------------


async def test_a_connector_missing_from_the_app_connector_is_named_with_where_to_add_it(
    afas: Afas, sim: AfasSim
) -> None:
    sim.remove_connector("FiEntries")
    sim.remove_connector("Profit_VAT_code")

    result = await afas.check()

    assert result.health is Health.MISCONFIGURED
    assert (
        "UpdateConnector FiEntries ontbreekt in de App Connector 'Koppelaar' (boekingen) — "
        "Algemeen → App Connector → UpdateConnectoren → Nieuw"
    ) in result.reason
    assert "GetConnector Profit_VAT_code ontbreekt" in result.reason
    assert "GetConnectoren → Nieuw" in result.reason
    assert "Profit_Accounts" not in result.reason


async def test_a_revoked_token_is_401_and_an_ip_restriction_403(afas: Afas, sim: AfasSim) -> None:
    sim.ip_blocked = True
    blocked = await afas.check()
    sim.ip_blocked = False
    sim.revoke_token()
    revoked = await afas.check()

    assert blocked.health is Health.AUTH_FAILED and "IP" in blocked.reason and "IP-adres" in blocked.advice
    assert revoked.health is Health.AUTH_FAILED and "Gebruikerstokens" in revoked.advice


async def test_maintenance_is_unreachable_for_now_not_a_refusal(afas: Afas, sim: AfasSim) -> None:
    sim.faults.add("status", status=503, retry_after=7200)

    result = await afas.check()
    with pytest.raises(TransientError) as raised:
        await afas.create_booking(entry(), (await _debtor(sim)).id)

    assert result.health is Health.UNREACHABLE and "afasstatus.nl" in result.advice
    assert raised.value.retryable and sim.entries == []


def test_token_expiry_is_read_as_amsterdam_time_and_warned_about() -> None:
    target = Afas("http://127.0.0.1:1", SecretStr("x"))
    meta: dict[str, Any] = {
        "getConnectors": [{"id": c} for c in NEEDED_GET],
        "updateConnectors": [{"id": c} for c in ("FiEntries", "KnSalesRelationOrg", "KnPurchaseRelationOrg")],
        "info": {"envid": "O12345AA", "appName": "Koppelaar", "tokenExpiry": "2026-02-01T00:00:00Z"},
    }
    soon = target.judge(meta, today=date(2026, 1, 20))
    expired = target.judge(meta, today=date(2026, 2, 2))
    meta["info"]["tokenExpiry"] = "0"
    never = target.judge(meta, today=date(2026, 2, 2))

    assert soon.ok and "verloopt op 01-02-2026" in soon.reason
    assert expired.health is Health.AUTH_FAILED and "verlopen" in expired.reason
    assert never.ok and "verloopt" not in never.reason


def test_a_z_time_from_afas_is_amsterdam_local_time() -> None:
    moment = amsterdam_time("2026-07-01T00:30:00Z")
    assert moment is not None and moment.utcoffset() is not None
    assert moment.isoformat() == "2026-07-01T00:30:00+02:00"  # summer time: 22:30 UTC the day before
    assert moment.astimezone(UTC) == datetime(2026, 6, 30, 22, 30, tzinfo=UTC)


# --- masters --------------------------------------------------------------------------------------------


async def test_masters_for_the_mapping_editors(afas: Afas) -> None:
    assert [(a.id, a.name) for a in await afas.administraties()] == [("1", "Bakkerij De Vries B.V.")]
    journals = {(j.code, j.kind) for j in await afas.journals()}
    assert journals == {("70", InvoiceKind.SALES), ("60", InvoiceKind.PURCHASE)}  # no bank
    accounts = {a.code: a for a in await afas.ledger_accounts()}
    assert accounts["8000"].tegenrekening and not accounts["1300"].tegenrekening
    assert {c.code for c in await afas.cost_centers()} == {"WEST", "OOST"}
    codes = {c.code: c for c in await afas.vat_codes()}
    assert codes["1"].rate == D(21) and codes["5"].kind is InvoiceKind.PURCHASE
    assert afas.default_vat_code(InvoiceKind.SALES, D(21), False) == "1"
    assert afas.default_vat_code(InvoiceKind.PURCHASE, D(9), False) == "6"
    assert "USD" in await afas.currencies()


async def test_paging_is_always_ordered_so_no_row_is_lost_or_repeated(afas: Afas, sim: AfasSim) -> None:
    for n in range(1234):
        sim.add_account("1", f"9{n:04d}", f"Kosten {n}")

    accounts = [a.code for a in await afas.ledger_accounts()]
    gets = [r for r in sim.request_log if "Profit_Accounts" in r.path]

    assert len(accounts) == len(set(accounts)) == 1234 + 8
    assert len(gets) == 3 and all("orderbyfieldids=AccountNr" in r.query for r in gets)


async def test_the_simulator_really_reorders_unordered_pages(url: str) -> None:
    import httpx

    header = token_header(SecretStr(TOKEN_DATA))
    async with httpx.AsyncClient(headers={"Authorization": header}) as http:
        seen = [
            [
                row["AccountNr"]
                for row in (await http.get(f"{url}/connectors/Profit_Accounts?take=-1&skip=-1")).json()[
                    "rows"
                ]
            ]
            for _ in range(3)
        ]
        bad = await http.get(f"{url}/connectors/Profit_Accounts?skip=2&take=-1")
    assert len({tuple(s) for s in seen}) > 1
    assert bad.status_code == 500 and bad.json()["errorNumber"] == -2147180999


async def test_a_query_over_2049_characters_is_refused_before_it_is_sent(afas: Afas, sim: AfasSim) -> None:
    before = len(sim.request_log)
    with pytest.raises(RejectedError, match="2049"):
        await afas.client.rows("Profit_Debtor", order="DebtorId", filters=[("DebtorName", 1, "x" * 2100)])
    assert len(sim.request_log) == before


async def test_at_most_five_requests_in_flight(url: str, sim: AfasSim) -> None:
    target = Afas(url, SecretStr(TOKEN_DATA), administratie="1", rate_limit=RateLimit(1000, 50))
    sim.faults.add("latency", ms=100)
    active = peak = 0
    original = sim._handle

    async def counting(*args: Any) -> Any:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            await asyncio.sleep(0.02)
            return await original(*args)
        finally:
            active -= 1

    sim._handle = counting  # type: ignore[method-assign,assignment]
    try:
        await asyncio.gather(*(target.administraties() for _ in range(12)))
    finally:
        await target.aclose()
    assert target.rate_limit.max_concurrency == 5 and peak <= 5


# --- bookings -----------------------------------------------------------------------------------------


async def _debtor(sim: AfasSim) -> Any:
    return sim.add_relation("debiteur", "FS42", BAKKERIJ.name, BAKKERIJ.vat_number)


async def test_a_sales_entry_has_the_debtor_the_revenue_and_an_explicit_vat_line(
    afas: Afas, sim: AfasSim
) -> None:
    debtor = await _debtor(sim)

    result = await afas.create_booking(entry(), debtor.id)

    [booked] = sim.entries
    assert result.remote_id == str(booked.number)
    assert (booked.unit, booked.journal, booked.year, booked.period) == ("1", "70", 2026, 1)
    lines = [(x["VaAs"], x["AcNr"], D(x["AmDe"]), D(x["AmCr"]), x.get("VaId")) for x in booked.lines]
    assert lines == [
        ("2", debtor.id, D("121.00"), D(0), None),
        ("1", "8000", D(0), D("100.00"), "1"),
        ("1", "1510", D(0), D("21.00"), "1"),
    ]
    assert booked.lines[0]["DaEx"] == "2026-02-13"


async def test_a_purchase_credit_note_with_a_kostenplaats_in_foreign_currency(
    afas: Afas, sim: AfasSim
) -> None:
    creditor = sim.add_relation("crediteur", "FS7", "Meelhandel Molenaar B.V.")
    line = BookingLine(
        account_code="4000",
        vat_code="5",
        vat_rate=D(21),
        net_amount=D("-50.00"),
        vat_amount=D("-10.50"),
        cost_center="WEST",
    )
    credit = entry(
        "CN-7",
        kind=InvoiceKind.PURCHASE,
        credit_note=True,
        lines=(line,),
        foreign=ForeignAmount(currency="USD", gross=D("-65.34"), rate=D("1.08"), rate_date=date(2026, 1, 13)),
    )

    await afas.create_booking(credit, creditor.id)

    [booked] = sim.entries
    assert booked.journal == "60"
    creditor_line, cost, vat = booked.lines
    assert (D(creditor_line["AmDe"]), D(creditor_line["AmCr"])) == (D("60.50"), D(0))  # a credit note flips
    assert (D(cost["AmDe"]), D(cost["AmCr"])) == (D(0), D("50.00")) and cost["_DiC1"] == "WEST"
    assert (vat["AcNr"], D(vat["AmCr"])) == ("1520", D("10.50"))
    assert creditor_line["CuId"] == "USD" and D(creditor_line["AmDc"]) == D("65.34")
    assert D(cost["AmCc"]) == D("54.00")


async def test_an_unbalanced_entry_is_refused_locally_and_never_sent(afas: Afas, sim: AfasSim) -> None:
    debtor = await _debtor(sim)
    body = await afas.entry_body(entry(), debtor.id)
    body["FiEntryPar"]["Element"]["Objects"][0]["FiEntries"]["Element"][2]["Fields"]["AmCr"] = D("20.99")
    with pytest.raises(RejectedError, match="niet in balans"):
        _balanced(body["FiEntryPar"]["Element"]["Objects"][0]["FiEntries"]["Element"], "F2026-001")
    assert not any(r.method == "POST" for r in sim.request_log)


async def test_afas_refusal_keeps_its_message_and_log_reference(afas: Afas, sim: AfasSim) -> None:
    debtor = await _debtor(sim)
    unknown_account = entry(
        lines=(
            BookingLine(
                account_code="8999", vat_code="1", vat_rate=D(21), net_amount=D(100), vat_amount=D(21)
            ),
        )
    )

    with pytest.raises(RejectedError) as raised:
        await afas.create_booking(unknown_account, debtor.id)

    assert "'Rekeningnummer' (8999) bestaat niet" in raised.value.message
    assert "logreferentie" in raised.value.message and len(raised.value.code) == 32
    assert "Omgevingslogboek" in raised.value.advice
    assert sim.entries == []


async def test_an_invoice_number_over_12_characters_is_a_foutmelding_not_a_truncation(
    afas: Afas, sim: AfasSim
) -> None:
    with pytest.raises(RejectedError, match="12 tekens"):
        await afas.create_booking(entry("F2026-0000001"), (await _debtor(sim)).id)
    assert sim.entries == []


async def test_a_vat_code_without_vat_account_is_a_mapping_foutmelding(afas: Afas, sim: AfasSim) -> None:
    wrong = entry(
        lines=(
            BookingLine(
                account_code="8000", vat_code="99", vat_rate=D(21), net_amount=D(100), vat_amount=D(21)
            ),
        )
    )
    with pytest.raises(RejectedError) as raised:
        await afas.create_booking(wrong, (await _debtor(sim)).id)
    assert raised.value.origin is Origin.MAPPING


async def test_a_second_post_of_one_invoice_is_found_not_booked_twice(afas: Afas, sim: AfasSim) -> None:
    debtor = await _debtor(sim)
    first = await afas.create_booking(entry(), debtor.id)

    again = await afas.create_booking(entry(), debtor.id)

    assert again.already_existed and again.remote_id == first.remote_id
    assert sim.bookings_per_invoice() == {"F2026-001": 1}


def test_every_success_body_shape_gives_the_entry_number() -> None:
    shapes = (
        {"results": {"FiEntries": {"EnNo": "7", "UnId": "1", "InID": "F1"}}},
        {"FiEntryPar": {"UnId": "1", "EnNo": "7", "InId": "F1"}},
        {"results": {"FiEntryPar": {"UnId": "4", "EnNo": "7"}}},
    )
    assert [success_fields(s, "FiEntries", "FiEntryPar")["EnNo"] for s in shapes] == ["7", "7", "7"]


async def test_the_simulator_takes_objects_as_object_or_array_and_refuses_an_unknown_connector(
    url: str, sim: AfasSim
) -> None:
    import httpx

    sim.add_relation("debiteur", "FS1", "Klant")
    sim.remove_connector("KnSubject")
    lines = [
        {"Fields": {"VaAs": "2", "AcNr": "10001", "EnDa": "2026-01-02", "AmDe": "10", "AmCr": "0"}},
        {"Fields": {"VaAs": "1", "AcNr": "8000", "EnDa": "2026-01-02", "AmDe": "0", "AmCr": 10}},
    ]
    as_object = {
        "FiEntryPar": {
            "Element": {
                "Fields": {"Year": 2026, "Peri": 1, "UnId": "1", "JoCo": "70"},
                "Objects": {"FiEntries": {"Element": lines}},
            }
        }
    }
    header = {"Authorization": token_header(SecretStr(TOKEN_DATA))}
    async with httpx.AsyncClient(headers=header) as http:
        ok = await http.post(f"{url}/connectors/FiEntries", json=as_object)
        refused = await http.post(f"{url}/connectors/KnSubject", json={"KnSubject": {"Element": {}}})

    assert ok.status_code == 201 and len(sim.entries) == 1
    assert refused.status_code == 500
    assert "wordt niet ondersteund" in refused.json()["externalMessage"]
    assert refused.json()["profitLogReference"]


# --- relations -----------------------------------------------------------------------------------------


async def test_a_relation_is_found_by_kvk_number_before_one_is_made(afas: Afas, sim: AfasSim) -> None:
    known = sim.add_relation("debiteur", "", "De Vries Bakkers", kvk="30123456")
    party = BAKKERIJ.model_copy(update={"vat_number": "", "coc_number": "30123456"})

    assert await afas.ensure_relation(party, InvoiceKind.SALES, "FS42") == known.id
    assert len(sim.debtors) == 1


async def test_a_new_creditor_is_made_through_kn_purchase_relation_org(afas: Afas, sim: AfasSim) -> None:
    creditor = await afas.ensure_relation(BAKKERIJ, InvoiceKind.PURCHASE, "FS42")

    assert sim.creditors[creditor].code == "FS42" and sim.creditors[creditor].vat_number == "NL004495445B01"
    assert sim.debtors == {}
    assert any(r.path.endswith("/KnPurchaseRelationOrg") for r in sim.request_log)


async def test_an_unknown_token_never_reaches_a_connector(url: str) -> None:
    target = Afas(url, SecretStr("0000"), administratie="1")
    try:
        with pytest.raises(AuthError):
            await target.administraties()
    finally:
        await target.aclose()
