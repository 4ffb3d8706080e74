"""Twinfield over real HTTP against the simulator (sandbox/twinfield.py).

What a bookkeeper would notice: consent and cluster found without hardcoding, the right relation,
transactions equal to the invoice to the cent, one refused transaction in a batch does not take the
others down, nothing booked twice after a lost response, and Dutch advice when it fails.
"""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from connectors.contract import BookingTarget, CreateResult, Health, RateLimit
from connectors.errors import ConnectorError, RejectedError, UncertainError
from connectors.model import BookingLine, CostCenter, InvoiceKind, Journal, JournalEntry
from connectors.twinfield import RefreshingTokens, Twinfield, TwinfieldOAuth
from sandbox.server import SandboxServer
from sandbox.twinfield import Transaction, TwinfieldSim
from tests.connectors.test_eboekhouden_rest import BAKKERIJ, MEELHANDEL, Sleeps, line

# Distinctive values, so a leak anywhere is found by a plain substring scan.
CLIENT_ID = "koppelaar-twf-app"
CLIENT_SECRET = "twf-S3CR3T-c1i3nt-7d1e"
REDIRECT = "https://koppelaar.example/oauth/twinfield"
ORG = "TWF-BAKKERIJ"
D = Decimal


@pytest.fixture
def sim() -> TwinfieldSim:
    twf = TwinfieldSim()
    twf.add_client(CLIENT_ID, CLIENT_SECRET, REDIRECT)
    twf.add_organisation(ORG, cluster="accounting2")  # not the first cluster: nothing may assume it
    twf.add_office(ORG, "001", "Bakkerij De Vries B.V.")
    twf.add_office(ORG, "002", "De Vries Holding B.V.")
    return twf


@pytest.fixture
def url(sim: TwinfieldSim) -> Iterator[str]:
    with SandboxServer(twinfield=sim) as server:
        yield server.url_for("twinfield")


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def oauth_for(url: str, sleeps: Sleeps, secret: str = CLIENT_SECRET) -> TwinfieldOAuth:
    return TwinfieldOAuth(
        CLIENT_ID, SecretStr(secret), REDIRECT, login_url=url, sleep=sleeps, timeout=httpx.Timeout(5.0)
    )


def connect(
    url: str, sleeps: Sleeps, refresh_token: str, *, office: str = "001", **kwargs: object
) -> Twinfield:
    oauth = oauth_for(url, sleeps)
    return Twinfield(
        oauth,
        RefreshingTokens(oauth, SecretStr(refresh_token)),
        office=office,
        rate_limit=RateLimit(per_second=1000, max_concurrency=1),
        timeout=httpx.Timeout(5.0, connect=2.0),
        sleep=sleeps,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def twf(sim: TwinfieldSim, url: str, sleeps: Sleeps) -> AsyncIterator[Twinfield]:
    connector = connect(url, sleeps, sim.issue_refresh_token(CLIENT_ID))
    yield connector
    await connector.aclose()


def sales(number: str = "F2026-00013", *, lines: tuple[BookingLine, ...] | None = None) -> JournalEntry:
    return JournalEntry(
        reference=f"factuursturen:{number}",
        kind=InvoiceKind.SALES,
        date=date(2026, 1, 21),
        due_date=date(2026, 2, 20),
        invoice_number=number,
        description=f"Factuur {number} Bakkerij De Vries",
        relation=BAKKERIJ,
        lines=lines
        or (
            line("8000", "VH", "21", "1250.00", "262.50", "Broodjes en gebak januari"),
            line("8010", "VL", "9", "80.00", "7.20", "Koffie en thee"),
        ),
        payment_reference="2026000130042",
    )


def purchase(number: str = "MM-2026-0456") -> JournalEntry:
    return JournalEntry(
        reference=f"ubl:{number}",
        kind=InvoiceKind.PURCHASE,
        date=date(2026, 1, 14),
        invoice_number=number,
        description=f"Inkoopfactuur {number} Meelhandel",
        relation=MEELHANDEL,
        lines=(line("4000", "IH", "21", "812.40", "170.60", "Tarwebloem 25 kg"),),
    )


async def book(twf: Twinfield, entry: JournalEntry, code: str = "FS42") -> CreateResult:
    relation = await twf.ensure_relation(entry.relation, entry.kind, code)
    return await twf.create_booking(entry, relation)


def only(sim: TwinfieldSim) -> Transaction:
    transactions = sim.transactions(ORG, "001")
    assert len(transactions) == 1, transactions
    return transactions[0]


def lines_of(trs: Transaction) -> list[tuple[str, str, str, str, str]]:
    return [(ln.type, ln.dim1, ln.vatcode, ln.debitcredit, f"{ln.value:.2f}") for ln in trs.lines]


def posts(sim: TwinfieldSim) -> int:
    return sum(1 for r in sim.request_log if r.action == "ProcessXmlString" and r.status == 200)


# --- consent, tokens, cluster --------------------------------------------------------------------


def test_is_a_booking_target(twf: Twinfield) -> None:
    assert isinstance(twf, BookingTarget)


async def test_consent_code_exchange_and_cluster_discovery(url: str, sleeps: Sleeps) -> None:
    oauth = oauth_for(url, sleeps)
    link = oauth.authorization_url(state="st-1")
    query = parse_qs(urlsplit(link).query)
    assert "twf.organisation" in query["scope"][0].split() and query["nonce"][0]
    async with httpx.AsyncClient() as browser:  # the admin's browser: consent is automatic in the sim
        answer = await browser.get(link)
    assert answer.status_code == 302
    back = parse_qs(urlsplit(answer.headers["location"]).query)
    assert back["state"] == ["st-1"]

    tokens = await oauth.exchange_code(back["code"][0])
    assert tokens.refresh_token.get_secret_value() and tokens.expires_in == 3600
    info = await oauth.validate(tokens.access_token.get_secret_value())
    await oauth.aclose()

    assert info.cluster_url == f"{url}/accounting2"  # read from the token, never assumed
    assert info.organisation_code == ORG


async def test_refresh_keeps_the_non_rotating_refresh_token(
    sim: TwinfieldSim, url: str, sleeps: Sleeps
) -> None:
    refresh = SecretStr(sim.issue_refresh_token(CLIENT_ID))
    oauth = oauth_for(url, sleeps)
    first = await oauth.refresh(refresh)
    second = await oauth.refresh(refresh)
    await oauth.aclose()
    assert (
        first.refresh_token is not None
        and first.refresh_token.get_secret_value() == refresh.get_secret_value()
    )
    assert first.access_token.get_secret_value() != second.access_token.get_secret_value()


async def test_missing_organisation_scope_is_a_clear_dutch_error(
    sim: TwinfieldSim, url: str, sleeps: Sleeps
) -> None:
    refresh = sim.issue_refresh_token(CLIENT_ID, scopes=("openid", "offline_access", "twf.organisationUser"))
    connector = connect(url, sleeps, refresh)
    result = await connector.check()
    await connector.aclose()
    assert result.health is Health.AUTH_FAILED
    assert "cluster-URL" in result.reason and "twf.organisation" in result.reason
    assert "opnieuw toestemming" in result.advice


async def test_revoked_consent_says_to_authorise_again(sim: TwinfieldSim, url: str, sleeps: Sleeps) -> None:
    refresh = sim.issue_refresh_token(CLIENT_ID)
    sim.revoke(refresh)
    connector = connect(url, sleeps, refresh)
    result = await connector.check()
    await connector.aclose()
    assert result.health is Health.AUTH_FAILED
    assert "invalid_grant" in result.reason and "koppelaar connect" in result.advice


async def test_wrong_client_secret(sim: TwinfieldSim, url: str, sleeps: Sleeps) -> None:
    oauth = oauth_for(url, sleeps, secret="not-the-secret")
    connector = Twinfield(
        oauth, RefreshingTokens(oauth, SecretStr(sim.issue_refresh_token(CLIENT_ID))), office="001"
    )
    result = await connector.check()
    await connector.aclose()
    assert result.health is Health.AUTH_FAILED and "Client secret" in result.advice


async def test_expired_access_token_is_refreshed_once_transparently(
    sim: TwinfieldSim, twf: Twinfield
) -> None:
    assert (await twf.check()).ok
    sim.expire_access_tokens()  # the SOAP call now gets fault 354: refused before processing
    assert [o.id for o in await twf.administraties()] == ["001", "002"]
    tokens = twf._tokens
    assert isinstance(tokens, RefreshingTokens) and tokens.refreshes == 2


# --- offices, reference data ---------------------------------------------------------------------


async def test_check_and_office_listing(twf: Twinfield) -> None:
    result = await twf.check()
    assert result.ok, result
    assert "Bakkerij De Vries B.V." in result.reason
    offices = await twf.administraties()
    assert [(o.id, o.name) for o in offices] == [
        ("001", "Bakkerij De Vries B.V."),
        ("002", "De Vries Holding B.V."),
    ]


async def test_unknown_office_and_daybook_are_misconfigured(
    sim: TwinfieldSim, url: str, sleeps: Sleeps
) -> None:
    refresh = sim.issue_refresh_token(CLIENT_ID)
    wrong_office = connect(url, sleeps, refresh, office="999")
    result = await wrong_office.check()
    await wrong_office.aclose()
    assert result.health is Health.MISCONFIGURED and "001 (Bakkerij De Vries B.V.)" in result.reason

    wrong_daybook = connect(url, sleeps, refresh, sales_journal="SLS")
    result = await wrong_daybook.check()
    await wrong_daybook.aclose()
    assert result.health is Health.MISCONFIGURED and "verkoopdagboek SLS" in result.reason


async def test_ledger_accounts_vat_codes_and_daybooks(twf: Twinfield) -> None:
    codes = {a.code: a.category for a in await twf.ledger_accounts()}
    assert codes["1300"] == "BAS" and codes["8000"] == "PNL"
    vat = {v.code: v for v in await twf.vat_codes()}
    assert vat["VH"].rate == D(21) and vat["VH"].kind is InvoiceKind.SALES
    assert vat["IL"].rate == D(9) and vat["IL"].kind is InvoiceKind.PURCHASE
    assert twf.default_vat_code(InvoiceKind.SALES, D(9), False) == "VL"
    assert {d.code for d in await twf.daybooks()} == {"VRK", "INK", "MEMO"}


async def test_cost_centers_are_the_offices_kpl_dimensions(sim: TwinfieldSim, twf: Twinfield) -> None:
    sim.organisations[ORG].offices["002"].add_dimension("KPL", "900", "Holding algemeen")  # other office
    assert await twf.cost_centers() == [
        CostCenter(code="100", name="Winkel"),
        CostCenter(code="200", name="Bezorging"),
        CostCenter(code="300", name="Productie"),
        CostCenter(code="400", name="Horeca"),
    ]


async def test_journals_are_split_by_the_trs_finders_category(sim: TwinfieldSim, twf: Twinfield) -> None:
    daybooks = sim.organisations[ORG].offices["001"].daybooks
    daybooks["VRKW"] = ("Verkoop webwinkel", "sales")
    daybooks["INKG"] = ("Inkoop grondstoffen", "purchase")
    assert sorted(await twf.journals(), key=lambda j: j.code) == [
        Journal(code="INK", name="Inkoopboek", kind=InvoiceKind.PURCHASE),
        Journal(code="INKG", name="Inkoop grondstoffen", kind=InvoiceKind.PURCHASE),
        Journal(code="VRK", name="Verkoopboek", kind=InvoiceKind.SALES),
        Journal(code="VRKW", name="Verkoop webwinkel", kind=InvoiceKind.SALES),
    ]  # MEMO (category journal) takes no invoices


# --- relations ------------------------------------------------------------------------------------


async def test_relation_is_created_once_then_found_by_our_code(
    sim: TwinfieldSim, url: str, sleeps: Sleeps, twf: Twinfield
) -> None:
    code = await twf.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
    dims = sim.organisations[ORG].offices["001"].dimensions["DEB"]
    assert dims[code].shortname == "FS42" and dims[code].fields["field4"] == BAKKERIJ.vat_number

    other = connect(url, sleeps, sim.issue_refresh_token(CLIENT_ID))
    assert await other.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42") == code
    supplier = await other.ensure_relation(MEELHANDEL, InvoiceKind.PURCHASE, "UBL7")
    await other.aclose()
    assert len(dims) == 1
    assert supplier in sim.organisations[ORG].offices["001"].dimensions["CRD"]


async def test_relation_create_with_lost_response_is_found_not_doubled(
    sim: TwinfieldSim, twf: Twinfield
) -> None:
    first = await twf.ensure_relation(MEELHANDEL, InvoiceKind.SALES, "FS7")  # the list is read now
    sim.faults.add("lost_response", action="ProcessXmlString", times=1)  # hits the create
    code = await twf.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
    assert sorted(sim.organisations[ORG].offices["001"].dimensions["DEB"]) == sorted([first, code])


# --- bookings -------------------------------------------------------------------------------------


async def test_sales_invoice_to_the_cent_with_explicit_vat(sim: TwinfieldSim, twf: Twinfield) -> None:
    result = await book(twf, sales())
    trs = only(sim)
    relation = trs.lines[0].dim2
    assert result.remote_id == f"VRK/{trs.number}"
    assert (trs.code, trs.status, trs.date, trs.period, trs.invoicenumber) == (
        "VRK",
        "temporary",
        "20260121",
        "2026/01",
        "F2026-00013",
    )
    assert lines_of(trs) == [
        ("total", "1300", "", "debit", "1599.70"),
        ("detail", "8000", "VH", "credit", "1250.00"),
        ("detail", "8010", "VL", "credit", "80.00"),
        ("vat", "1500", "VH", "credit", "262.50"),
        ("vat", "1500", "VL", "credit", "7.20"),
    ]
    assert relation == await twf.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
    assert trs.lines[0].description == "factuursturen:F2026-00013"


async def test_purchase_invoice_credits_the_supplier(sim: TwinfieldSim, twf: Twinfield) -> None:
    await book(twf, purchase(), code="UBL7")
    trs = only(sim)
    assert trs.code == "INK"
    assert lines_of(trs) == [
        ("total", "1600", "", "credit", "983.00"),
        ("detail", "4000", "IH", "debit", "812.40"),
        ("vat", "1500", "IH", "debit", "170.60"),
    ]
    assert trs.lines[0].dim2 in sim.organisations[ORG].offices["001"].dimensions["CRD"]


async def test_one_cent_rounding_difference_is_booked_as_the_invoice_says(
    sim: TwinfieldSim, twf: Twinfield
) -> None:
    # 0.50 at 21% = 0.105: the invoice rounds half-up to 0.11, Twinfield half-to-even to 0.10. Without
    # our explicit VAT line the transaction would be 0.01 out of balance.
    entry = sales("F2026-00099", lines=(line("8000", "VH", "21", "0.50", "0.11", "Proefje"),))
    await book(twf, entry)
    trs = only(sim)
    assert lines_of(trs) == [
        ("total", "1300", "", "debit", "0.61"),
        ("detail", "8000", "VH", "credit", "0.50"),
        ("vat", "1500", "VH", "credit", "0.11"),
    ]


async def test_credit_note_reverses_the_sides(sim: TwinfieldSim, twf: Twinfield) -> None:
    entry = sales("C2026-00002", lines=(line("8000", "VH", "21", "-100.00", "-21.00", "Retour"),))
    await book(twf, entry)
    assert lines_of(only(sim)) == [
        ("total", "1300", "", "credit", "121.00"),
        ("detail", "8000", "VH", "debit", "100.00"),
        ("vat", "1500", "VH", "debit", "21.00"),
    ]


async def test_batch_with_one_refused_transaction_books_the_others(sim: TwinfieldSim, twf: Twinfield) -> None:
    relation = await twf.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
    bad = sales("F2026-00015", lines=(line("9999", "VH", "21", "10.00", "2.10", "Onbekende rekening"),))
    await twf.vat_codes()
    before = posts(sim)

    outcomes = await twf.create_bookings(
        [(sales("F2026-00014"), relation), (bad, relation), (sales("F2026-00016"), relation)]
    )

    assert posts(sim) - before == 1  # one ProcessXml call for the three
    assert isinstance(outcomes[0], CreateResult) and isinstance(outcomes[2], CreateResult)
    refused = outcomes[1]
    assert isinstance(refused, RejectedError)
    assert "F2026-00015" in refused.message and "Dimensie 9999 bestaat niet." in refused.message
    assert "grootboekrekening" in refused.advice
    assert [t.invoicenumber for t in sim.transactions(ORG, "001")] == ["F2026-00014", "F2026-00016"]


async def test_unbalanced_rejection_carries_the_vendor_message(sim: TwinfieldSim, twf: Twinfield) -> None:
    # A VAT amount far from the code's rate: the vendor refuses the VAT line (the message is kept).
    entry = sales("F2026-00020", lines=(line("8000", "VH", "21", "100.00", "25.00", "Fout"),))
    with pytest.raises(RejectedError) as caught:
        await book(twf, entry)
    assert "wijkt te veel af" in caught.value.message and "regel" in caught.value.message
    assert sim.transactions(ORG, "001") == []


async def test_mapping_errors_are_refused_before_sending(sim: TwinfieldSim, twf: Twinfield) -> None:
    relation = await twf.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
    await twf.vat_codes()  # read once per connection
    before = posts(sim)
    with pytest.raises(RejectedError) as caught:
        await twf.create_booking(sales(lines=(line("8000", "VH", "9", "10.00", "0.90"),)), relation)
    assert "VH" in caught.value.message and "21%" in caught.value.message
    too_many = tuple(line("8000", "VH", "21", "1.00", "0.21") for _ in range(1000))
    with pytest.raises(RejectedError, match="hoogstens 1000"):
        await twf.create_booking(sales("F2026-00030", lines=too_many), relation)
    assert posts(sim) == before


async def test_lost_response_is_found_by_reference_and_not_posted_again(
    sim: TwinfieldSim, twf: Twinfield
) -> None:
    entry = sales()
    relation = await twf.ensure_relation(entry.relation, entry.kind, "FS42")
    await twf.vat_codes()
    sim.faults.add("lost_response", action="ProcessXmlString", times=1)

    with pytest.raises(UncertainError):
        await twf.create_booking(entry, relation)

    # What the engine does next: look it up before anything is posted again.
    found = await twf.find_booking(entry)
    assert found is not None
    trs = only(sim)
    assert found.remote_id == f"VRK/{trs.number}" and found.gross == D("1599.70")
    assert await twf.find_booking(sales("F2026-99999")) is None


async def test_a_new_runs_reconcile_tells_two_suppliers_with_one_invoice_number_apart(
    sim: TwinfieldSim, url: str, sleeps: Sleeps, twf: Twinfield
) -> None:
    # Reconcile is the first step of a run: nothing was resolved in this run yet.
    ours = purchase("2026-001")
    theirs = ours.model_copy(update={"relation": BAKKERIJ, "reference": "ubl:bakkerij-2026-001"})
    booked = await book(twf, ours, code="UBL7")
    other = await book(twf, theirs, code="UBL42")

    run = connect(url, sleeps, sim.issue_refresh_token(CLIENT_ID))
    found, found_other = await run.find_booking(ours), await run.find_booking(theirs)
    await run.aclose()

    assert found is not None and found.remote_id == booked.remote_id
    assert found_other is not None and found_other.remote_id == other.remote_id
    assert len(sim.organisations[ORG].offices["001"].dimensions["CRD"]) == 2  # looked up, never created


async def test_a_new_runs_reconcile_does_not_take_another_suppliers_booking_for_ours(
    sim: TwinfieldSim, url: str, sleeps: Sleeps, twf: Twinfield
) -> None:
    await book(twf, purchase("2026-001"), code="UBL7")
    await twf.ensure_relation(BAKKERIJ, InvoiceKind.PURCHASE, "UBL42")  # then the run crashed

    run = connect(url, sleeps, sim.issue_refresh_token(CLIENT_ID))
    theirs = purchase("2026-001").model_copy(update={"relation": BAKKERIJ, "reference": "ubl:b-2026-001"})
    assert await run.find_booking(theirs) is None
    await run.aclose()


async def test_a_koppelings_own_daybook_is_booked_and_looked_up_there(
    sim: TwinfieldSim, twf: Twinfield
) -> None:
    sim.organisations[ORG].offices["001"].daybooks["VRKW"] = ("Verkoop webwinkel", "sales")
    entry = sales("W2026-00412").model_copy(update={"journal": "VRKW"})
    relation = await twf.ensure_relation(entry.relation, entry.kind, "FS42")
    await twf.vat_codes()
    sim.faults.add("lost_response", action="ProcessXmlString", times=1)
    with pytest.raises(UncertainError):
        await twf.create_booking(entry, relation)

    found = await twf.find_booking(entry)  # browsed in VRKW, not the connection's VRK
    trs = only(sim)
    assert trs.code == "VRKW" and found is not None and found.remote_id == f"VRKW/{trs.number}"
    assert await twf.find_booking(entry.model_copy(update={"journal": ""})) is None
    again = await twf.create_booking(sales("W2026-00413").model_copy(update={"journal": "VRKW"}), relation)
    assert again.remote_id.startswith("VRKW/") and len(sim.transactions(ORG, "001")) == 2


async def test_detail_lines_carry_the_cost_center_as_dim2(sim: TwinfieldSim, twf: Twinfield) -> None:
    entry = sales(
        "F2026-00040",
        lines=(
            line("8000", "VH", "21", "1250.00", "262.50", "Taarten bruiloft", cost_center="400"),
            line("8010", "VL", "9", "80.00", "7.20", "Koffie en thee"),
        ),
    )
    await book(twf, entry)
    assert [(ln.type, ln.dim1, ln.dim2) for ln in only(sim).lines if ln.type == "detail"] == [
        ("detail", "8000", "400"),
        ("detail", "8010", ""),
    ]


async def test_an_unknown_cost_center_refuses_only_that_transaction(
    sim: TwinfieldSim, twf: Twinfield
) -> None:
    relation = await twf.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
    await twf.vat_codes()
    bad = sales(
        "F2026-00042", lines=(line("8000", "VH", "21", "300.00", "63.00", "Catering", cost_center="350"),)
    )
    outcomes = await twf.create_bookings([(sales("F2026-00041"), relation), (bad, relation)])

    assert isinstance(outcomes[0], CreateResult)
    refused = outcomes[1]
    assert isinstance(refused, RejectedError)
    # Twinfield's words, where it put them (HTTP 200, result="0", msg on the line's dim2).
    assert (
        "F2026-00042" in refused.message and "Dimensie 350 bestaat niet. (regel 2, dim2)" in refused.message
    )
    assert "kostenplaats in de mapping" in refused.advice
    assert 'result="0"' in refused.exchange
    assert [t.invoicenumber for t in sim.transactions(ORG, "001")] == ["F2026-00041"]


async def test_429_retry_after_is_honoured_without_sleeping(
    sim: TwinfieldSim, twf: Twinfield, sleeps: Sleeps
) -> None:
    relation = await twf.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
    await twf.vat_codes()
    sim.faults.add("status", status=429, retry_after=7, action="ProcessXmlString", times=1)
    await twf.create_booking(sales(), relation)
    assert 7.0 in sleeps.waits
    only(sim)


async def test_credits_per_minute_give_429_with_the_wait_until_the_next_minute(
    sim: TwinfieldSim, twf: Twinfield, sleeps: Sleeps
) -> None:
    await twf.administraties()
    used = sum(sim.credits_used.values())
    sim.credits_per_minute = used + 1  # one more read fits, the next one must wait
    await twf.administraties()
    sim.faults.clear()
    with pytest.raises(ConnectorError):
        await twf.administraties()  # the sim's clock does not move: every retry is refused again
    assert sleeps.waits and all(0 < w <= 60 for w in sleeps.waits)


async def test_one_request_in_flight_per_organisation(sim: TwinfieldSim, twf: Twinfield) -> None:
    sim.processing_seconds = 0.02
    await asyncio.gather(*(twf.administraties() for _ in range(4)))
    assert sim.refused_concurrent == 0


async def test_utf16_responses_are_decoded(sim: TwinfieldSim, twf: Twinfield) -> None:
    sim.utf16_roots = {"*"}
    sim.organisations[ORG].offices["002"].name = "Küppers Bakkerijen"
    offices = await twf.administraties()
    assert offices[1].name == "Küppers Bakkerijen"
    assert "Küppers" in twf.client.last_exchange  # readable in the drill-down, not mojibake
    await book(twf, sales())
    assert only(sim).invoicenumber == "F2026-00013"


async def test_secrets_and_tokens_never_in_exchanges_or_messages(
    sim: TwinfieldSim, url: str, sleeps: Sleeps
) -> None:
    refresh = sim.issue_refresh_token(CLIENT_ID)
    connector = connect(url, sleeps, refresh)
    await book(connector, sales())
    issued = set(sim.access_tokens)
    sim.expire_access_tokens()
    messages: list[str] = []
    try:
        await book(connector, sales("F2026-00015", lines=(line("9999", "VH", "21", "10.00", "2.10"),)))
    except RejectedError as exc:
        messages += [exc.message, exc.advice, exc.exchange]
    revoked = connect(url, sleeps, refresh)
    sim.revoke(refresh)
    result = await revoked.check()
    messages += [result.reason, result.advice, repr(connector), repr(connector.oauth)]
    text = "\n".join([*connector.exchanges(), *revoked.exchanges(), *messages])
    await connector.aclose()
    await revoked.aclose()
    assert messages[0]
    assert sim.access_tokens  # there were tokens to leak
    for secret in [CLIENT_SECRET, refresh, *issued, *sim.access_tokens]:
        assert secret not in text
    assert "AccessToken>***<" in text


async def test_the_booking_lookup_asks_for_its_filters_so_twinfield_applies_them(
    sim: TwinfieldSim, twf: Twinfield
) -> None:
    """Twinfield filters a browse column only with ask=true: without it the lookup reads the office."""
    entries = [sales(f"F2026-0009{i}") for i in range(3)]
    relation = await twf.ensure_relation(entries[0].relation, entries[0].kind, "FS42")
    for entry in entries:
        await twf.create_booking(entry, relation)

    found = await twf.find_booking(entries[1])

    assert found is not None and found.invoice_number == "F2026-00091"
    exchange = twf.client.last_exchange
    assert exchange.count("&lt;ask&gt;true&lt;/ask&gt;") == 3  # office, journal, invoice number
    served = re.search(r"total=(?:\"|&quot;)(\d+)", exchange)
    assert served is not None and served.group(1) == "1"  # only the total line of that one booking


async def test_a_vat_line_without_dim1_books_on_the_vat_codes_account_and_dim1_is_allowed(
    sim: TwinfieldSim, twf: Twinfield
) -> None:
    """Twinfield docs: a VAT line's dim1 is the VAT balance account; empty takes the VAT code's."""
    entry = sales("F2026-00050")
    relation = await twf.ensure_relation(entry.relation, entry.kind, "FS42")
    await twf.create_booking(entry, relation)
    vat_lines = [ln for ln in only(sim).lines if ln.type == "vat"]
    assert len(vat_lines) == 2 and {ln.dim1 for ln in vat_lines} == {"1500"}  # we send none

    explicit = await twf._transaction(sales("F2026-00051"), relation)
    for sent_vat in (ln for ln in explicit.iter("line") if ln.get("type") == "vat"):
        dim1 = ET.Element("dim1")
        dim1.text = "1500"
        sent_vat.insert(0, dim1)
    [outcome] = await twf._post([(0, sales("F2026-00051"), explicit)])
    assert not isinstance(outcome, ConnectorError), outcome


@pytest.mark.parametrize("payload", ["billion_laughs", "quadratic", "external_entity", "huge_xml"])
async def test_hostile_xml_is_refused_by_the_hardened_parser(
    sim: TwinfieldSim, twf: Twinfield, payload: str
) -> None:
    """A bomb, an external entity or a 10 MB answer is never expanded or read: a clear error instead."""
    await twf.ledger_accounts()  # logged in and the cluster known: the fault hits ProcessXml itself
    sim.faults.add("hostile", action="ProcessXmlString", payload=payload)
    with pytest.raises(ConnectorError) as caught:
        await twf.vat_codes()
    reason = "groter dan de grens" if payload == "huge_xml" else "DTD of entiteiten"
    assert reason in caught.value.message, caught.value.message
    assert "root:" not in caught.value.message  # /etc/passwd was not read
