"""ExactOnline and ExactOAuth over real HTTP against the Exact simulator, tokens in a real TokenVault.

One fake clock drives the simulator, the vault and the rate governor; the injected sleep advances it,
so waiting for a reset takes no time. What a bookkeeper would notice: entries equal the invoice to the
cent, one entry per invoice whatever the network does, limits respected before Exact blocks the key.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from connectors.contract import BookingTarget, Health, RateLimit
from connectors.errors import AuthError, Origin, RejectedError, TransientError, UncertainError
from connectors.exact import SPEC, ExactOAuth, ExactOnline, parse_odata_date
from connectors.exact.governor import Governor
from connectors.exact.target import results
from connectors.http import wait_listener
from connectors.model import BookingLine, CostCenter, InvoiceKind, Journal, JournalEntry, Party
from connectors.oauth import InvalidGrant, TokenResponse, code_from_redirect
from sandbox._util import FakeClock
from sandbox.exact import ExactSim
from sandbox.server import SandboxServer
from state.tokens import TokenVault
from tests.connectors.exact_worker import CLIENT_ID, CLIENT_SECRET, CONNECTION, DIVISION, REDIRECT_URI

D = Decimal
START = 1_767_225_600.0 + 12 * 3600  # 2026-01-01 12:00 UTC
EXACT_IDLE_EXPIRY = SPEC.oauth.refresh_idle_expiry if SPEC.oauth else None


class Sleeps:
    """Records every pause and moves the shared fake clock instead of sleeping."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


@dataclass
class Exact:
    sim: ExactSim
    url: str
    clock: FakeClock
    sleeps: Sleeps
    oauth: ExactOAuth
    vault: TokenVault
    target: ExactOnline
    first: TokenResponse


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def sim(clock: FakeClock) -> ExactSim:
    s = ExactSim(clock=clock)
    s.add_app(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)
    return s


@pytest.fixture
def url(sim: ExactSim) -> Iterator[str]:
    with SandboxServer(exact=sim) as server:
        yield server.url_for("exact")


def make_target(
    ex_url: str, vault: TokenVault, oauth: ExactOAuth, clock: FakeClock, sleeps: Sleeps
) -> ExactOnline:
    return ExactOnline(
        vault.bind(CONNECTION, oauth.refresh),
        division=DIVISION,
        base_url=ex_url,
        rate_limit=RateLimit(per_second=1000, max_concurrency=4),
        timeout=httpx.Timeout(5.0, connect=2.0),
        sleep=sleeps,
        clock=clock,
    )


@pytest.fixture
async def exact(sim: ExactSim, url: str, clock: FakeClock, tmp_path: Path) -> AsyncIterator[Exact]:
    sleeps = Sleeps(clock)
    oauth = ExactOAuth(CLIENT_ID, SecretStr(CLIENT_SECRET), REDIRECT_URI, base_url=url)
    first = await oauth.exchange_code(sim.authorize(CLIENT_ID, REDIRECT_URI))
    vault = TokenVault(tmp_path / "koppelaar.db", os.urandom(32), clock=clock, sleep=sleeps)
    vault.store_initial(CONNECTION, first, host=url, idle_expiry=EXACT_IDLE_EXPIRY)
    target = make_target(url, vault, oauth, clock, sleeps)
    yield Exact(sim, url, clock, sleeps, oauth, vault, target, first)
    await target.aclose()
    await oauth.aclose()
    vault.close()


BAKKERIJ = Party(
    source_id="fs-client-42",
    name="Bakkerij De Vries B.V.",
    vat_number="NL004495445B01",
    address="Dorpsstraat 12",
    postal_code="3421 AB",
    city="Oudewater",
)
MOLENAAR = Party(source_id="fs-supplier-7", name="Meelhandel Molenaar B.V.", vat_number="NL810433941B01")


def line(account: str, code: str, rate: str, net: str, vat: str) -> BookingLine:
    return BookingLine(
        account_code=account, vat_code=code, vat_rate=D(rate), net_amount=D(net), vat_amount=D(vat)
    )


def entry(
    number: str = "F2026-00013",
    *lines: BookingLine,
    kind: InvoiceKind = InvoiceKind.SALES,
    party: Party = BAKKERIJ,
) -> JournalEntry:
    booked = lines or (line("8000", "2", "21", "100.00", "21.00"),)
    return JournalEntry(
        reference=f"factuursturen:{number}",
        kind=kind,
        credit_note=sum(ln.net_amount + ln.vat_amount for ln in booked) < 0,
        date=date(2026, 1, 5),
        due_date=date(2026, 2, 4),
        invoice_number=number,
        description=f"Factuur {number}",
        relation=party,
        lines=booked,
    )


async def book(ex: Exact, e: JournalEntry) -> str:
    relation = await ex.target.ensure_relation(e.relation, e.kind, "FS42")
    return (await ex.target.create_booking(e, relation)).remote_id


# --- OAuth ------------------------------------------------------------------------------------------


async def test_authorize_paste_redirect_and_exchange_once(sim: ExactSim, url: str) -> None:
    oauth = ExactOAuth(CLIENT_ID, SecretStr(CLIENT_SECRET), REDIRECT_URI, base_url=url)
    link = oauth.authorization_url("st-91", force_login=True)
    assert link.startswith(f"{url}/api/oauth2/auth?client_id={CLIENT_ID}&redirect_uri=https%3A%2F%2F")
    assert "force_login=1" in link and "response_type=code" in link
    async with httpx.AsyncClient() as browser:  # the admin logs in and clicks Toestaan
        redirect = (await browser.get(link)).headers["location"]
    assert redirect.startswith(REDIRECT_URI)
    code = code_from_redirect(redirect, state="st-91", vendor="Exact Online")
    tokens = await oauth.exchange_code(code)
    assert tokens.expires_in == 600.0  # Exact sends "600", a string
    with pytest.raises(InvalidGrant, match="autorisatiecode"):
        await oauth.exchange_code(code)  # a code works once
    await oauth.aclose()


def test_pasted_redirects_are_checked() -> None:
    def parse(pasted: str) -> str:
        return code_from_redirect(pasted, state="s1", vendor="Exact Online")

    assert parse("  abc123  ") == "abc123"
    assert parse("https://x.example/cb?code=c0de&state=s1") == "c0de"
    with pytest.raises(AuthError, match="state klopt niet"):
        parse("https://x.example/cb?code=c0de&state=other")
    with pytest.raises(AuthError, match="Exact Online gaf geen toegang: The user denied"):
        parse("https://x.example/cb?error=access_denied&error_description=The+user+denied")


def test_token_response_expires_in_as_string() -> None:
    parsed = TokenResponse.from_json({"access_token": "a", "refresh_token": "r", "expires_in": "600"})
    assert parsed.expires_in == 600.0 and "a" not in repr(parsed)
    with pytest.raises(ValueError):
        TokenResponse.from_json({"access_token": "a", "refresh_token": "r", "expires_in": "soon"})


async def test_wrong_client_secret_is_an_app_center_problem(sim: ExactSim, url: str) -> None:
    oauth = ExactOAuth(CLIENT_ID, SecretStr("wrong"), REDIRECT_URI, base_url=url)
    with pytest.raises(Exception, match="Client ID of Client secret") as info:
        await oauth.exchange_code(sim.authorize(CLIENT_ID, REDIRECT_URI))
    assert not isinstance(info.value, InvalidGrant)  # a new login would not help
    await oauth.aclose()


async def test_access_token_is_refreshed_only_in_the_last_30_seconds(exact: Exact) -> None:
    for _ in range(10):  # 9 min 20 s of calls on the first token
        await exact.target.find_booking(entry())
        exact.clock.advance(56)
    assert exact.sim.refreshes() == 0
    exact.clock.advance(15)  # 575 s after issue: inside Exact's window
    await exact.target.find_booking(entry())
    assert exact.sim.refreshes("ok") == 1 and exact.sim.refreshes() == 1
    status = exact.vault.status(CONNECTION)
    assert status is not None and status.version == 2 and status.refreshed_at is not None


async def test_a_401_gets_one_forced_refresh_as_soon_as_exact_allows(exact: Exact) -> None:
    exact.clock.advance(530)
    await exact.target.find_booking(entry())  # caches the token (70 s left: no refresh yet)
    with exact.sim.lock:
        exact.sim.access_tokens.clear()  # Exact stops accepting it early
    assert await exact.target.find_booking(entry()) is None
    assert exact.sim.refreshes("ok") == 1 and exact.sim.refreshes("too_early") == 0
    assert exact.sleeps.waits == [pytest.approx(40.0)]  # waited for the window instead of being refused


async def test_refresh_token_dead_means_herautorisatie_nodig(exact: Exact) -> None:
    exact.sim.revoke_all()
    exact.clock.advance(600)
    result = await exact.target.check()
    assert result.health is Health.AUTH_FAILED
    assert result.reason.startswith(f"Herautorisatie nodig voor '{CONNECTION}'")
    assert f"koppelaar connect {CONNECTION}" in result.advice
    status = exact.vault.status(CONNECTION)
    assert status is not None and status.state == "needs_reauth"


async def test_refresh_token_unused_for_30_days_expires_with_a_clear_reason(exact: Exact) -> None:
    exact.clock.advance(31 * 86400)
    result = await exact.target.check()
    assert result.health is Health.AUTH_FAILED
    assert "30 dagen niet gebruikt" in result.reason


# --- directories ------------------------------------------------------------------------------------


async def test_check_and_divisions(exact: Exact) -> None:
    assert (await exact.target.check()).ok
    assert [a.id for a in await exact.target.administraties()] == [str(DIVISION)]


async def test_unknown_division_is_misconfigured(exact: Exact) -> None:
    target = ExactOnline(
        exact.vault.bind(CONNECTION, exact.oauth.refresh), division=999, base_url=exact.url, clock=exact.clock
    )
    result = await target.check()
    assert result.health is Health.MISCONFIGURED and "999" in result.reason and str(DIVISION) in result.advice
    await target.aclose()


async def test_directories_follow_next_verbatim_and_trim_padded_codes(exact: Exact) -> None:
    exact.sim.clear_request_log()
    ledgers = await exact.target.ledger_accounts()
    assert len(ledgers) == 108  # 60 + 48: two pages
    gl_requests = [r for r in exact.sim.request_log if r.path.endswith("/GLAccounts")]
    assert len(gl_requests) == 2
    assert "$skiptoken=guid'" in gl_requests[1].query.replace("%24", "$").replace("%27", "'")
    assert not any("skip=" in r.query for r in gl_requests)
    assert {lg.code for lg in ledgers} >= {"8000", "4000", "1300"}
    codes = {v.code: v for v in await exact.target.vat_codes()}
    assert codes["2"].rate == D(21) and codes["4"].rate == D(9) and codes["0"].rate == D(0)
    assert exact.target.default_vat_code(InvoiceKind.SALES, D(21), False) == "2"
    assert exact.target.default_vat_code(InvoiceKind.PURCHASE, D(9), False) == "4"
    assert exact.target.default_vat_code(InvoiceKind.SALES, D(21), True) is None


async def test_cost_centers_follow_next_and_leave_out_ended_ones(exact: Exact) -> None:
    exact.sim.page_size = 2  # six cost centres in the division: three pages
    exact.sim.clear_request_log()
    assert sorted(await exact.target.cost_centers(), key=lambda c: c.code) == [
        CostCenter(code="100", name="Algemeen"),
        CostCenter(code="200", name="Advies"),
        CostCenter(code="300", name="Detachering"),
        CostCenter(code="400", name="Projecten Zuid"),
    ]  # "500" ended on 2025-06-30, "900" in 2019; codes come padded to 8
    pages = [r for r in exact.sim.request_log if r.path.endswith("/hrm/Costcenters")]
    assert len(pages) == 3
    assert all("$skiptoken=guid'" in r.query.replace("%24", "$").replace("%27", "'") for r in pages[1:])


async def test_every_page_repeats_our_own_query_whatever_next_keeps(exact: Exact) -> None:
    """Paged as Exact's .NET client does: own $select/$filter plus the $skiptoken of `__next`."""
    exact.sim.page_size = 2
    exact.sim.next_keeps_query = False  # the bare form of the published sample: only $skiptoken
    exact.sim.clear_request_log()
    assert len(await exact.target.cost_centers()) == 4
    pages = [r.query.replace("%24", "$").replace("%2C", ",") for r in exact.sim.request_log]
    pages = [q for q, r in zip(pages, exact.sim.request_log, strict=True) if r.path.endswith("/Costcenters")]
    assert len(pages) == 3
    assert all("$select=Code,Description,EndDate" in q and "Active" not in q for q in pages)


async def test_journals_are_the_unblocked_sales_and_purchase_journals(exact: Exact) -> None:
    exact.sim.add_journal("71", "Verkoopboek detachering", 20)
    exact.sim.add_journal("61", "Inkoopboek kosten", 22)
    exact.sim.add_journal("72", "Verkoopboek (oud)", 20, blocked=True)
    exact.sim.add_journal("21", "Rabobank zakelijk", 12)
    journals = await exact.target.journals()
    assert sorted(journals, key=lambda j: j.code) == [
        Journal(code="60", name="Inkoopboek", kind=InvoiceKind.PURCHASE),
        Journal(code="61", name="Inkoopboek kosten", kind=InvoiceKind.PURCHASE),
        Journal(code="70", name="Verkoopboek", kind=InvoiceKind.SALES),
        Journal(code="71", name="Verkoopboek detachering", kind=InvoiceKind.SALES),
    ]


def test_odata_dates_and_envelopes() -> None:
    assert parse_odata_date("/Date(1351209600000)/") == datetime(2012, 10, 26, tzinfo=UTC)
    assert parse_odata_date("/Date(1351209600000+0100)/") == datetime(2012, 10, 26, tzinfo=UTC)
    assert parse_odata_date("2012-10-26") is None
    assert results({"d": {"results": [{"a": 1}]}}) == [{"a": 1}]
    assert results({"d": [{"a": 1}]}) == [{"a": 1}]
    assert results({"d": {"a": 1}}) == [{"a": 1}]


def test_exact_online_is_a_booking_target(exact: Exact) -> None:
    assert isinstance(exact.target, BookingTarget)


# --- bookings ---------------------------------------------------------------------------------------


async def test_sales_entry_equals_the_invoice_to_the_cent(exact: Exact) -> None:
    # VAT over the invoice: 21% of 20.14 = 4.23; per line Exact would make 2.11 + 2.11 = 4.22.
    e = entry(
        "F2026-00014", line("8000", "2", "21", "10.07", "2.11"), line("8100", "2", "21", "10.07", "2.12")
    )
    remote = await book(exact, e)
    [booked] = exact.sim.sales_entries()
    assert booked["EntryID"] == remote and booked["Type"] == 20
    assert booked["AmountDC"] == e.total_gross == D("24.37")
    assert booked["VATAmountDC"] == D("4.23")
    assert booked["YourRef"] == "F2026-00014" and booked["Journal"] == "70"
    assert booked["EntryDate"] == "/Date(1767571200000)/"


async def test_without_explicit_vat_exact_would_drift_a_cent(exact: Exact) -> None:
    """The simulator's per-line recalculation, which the connector's VATAmountFC avoids."""
    await exact.target.ledger_accounts()
    token = (await exact.vault.access_token(CONNECTION, exact.oauth.refresh)).get_secret_value()
    customer = exact.sim.add_account("Test B.V.")
    gl = exact.sim.gl_id("8000")
    async with httpx.AsyncClient(base_url=exact.url) as raw:
        response = await raw.post(
            f"/api/v1/{DIVISION}/salesentry/SalesEntries",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "Journal": "70",
                "Customer": customer,
                "SalesEntryLines": [
                    {"GLAccount": gl, "AmountFC": 10.07, "VATCode": "2"},
                    {"GLAccount": gl, "AmountFC": 10.07, "VATCode": "2"},
                ],
            },
        )
    assert response.status_code == 201
    assert str(response.json()["d"]["VATAmountDC"]) == "4.22"


async def test_credit_note_and_purchase_entry(exact: Exact) -> None:
    credit = entry("C2026-00002", line("8000", "2", "21", "-10.00", "-2.10"))
    await book(exact, credit)
    [booked] = exact.sim.sales_entries()
    assert booked["Type"] == 21 and booked["AmountDC"] == D("-12.10")
    purchase = entry(
        "INK-778", line("4000", "2", "21", "50.00", "10.50"), kind=InvoiceKind.PURCHASE, party=MOLENAAR
    )
    supplier = await exact.target.ensure_relation(MOLENAAR, InvoiceKind.PURCHASE, "FS7")
    await exact.target.create_booking(purchase, supplier)
    [bought] = exact.sim.purchase_entries()
    assert bought["Type"] == 30 and bought["Journal"] == "60" and bought["AmountDC"] == D("60.50")
    assert bought["Supplier"] == supplier


async def test_relations_are_found_before_they_are_created(exact: Exact) -> None:
    first = await exact.target.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
    [account] = exact.sim.accounts()
    assert account["SearchCode"].strip() == "FS42" and account["Code"] == " " * 14 + "1000"
    assert account["VATNumber"] == "NL004495445B01" and account["Country"] == "NL "
    # A later run (fresh connector) finds it by our code, not a second one.
    again = make_target(exact.url, exact.vault, exact.oauth, exact.clock, exact.sleeps)
    assert await again.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42") == first
    await again.aclose()
    # An existing debtor entered by hand is found by VAT number.
    existing = exact.sim.add_account("Meelhandel Molenaar", VATNumber="NL810433941B01", code="204")
    assert await exact.target.ensure_relation(MOLENAAR, InvoiceKind.SALES, "FS7") == existing
    assert len(exact.sim.accounts()) == 2


async def test_lost_response_on_create_is_looked_up_never_posted_twice(exact: Exact) -> None:
    e = entry("F2026-00015")
    relation = await exact.target.ensure_relation(e.relation, e.kind, "FS42")
    exact.sim.faults.add("lost_response", method="POST", path=f"/api/v1/{DIVISION}/salesentry", times=1)
    result = await exact.target.create_booking(e, relation)
    assert result.already_existed
    assert len(exact.sim.sales_entries()) == 1
    assert exact.sim.request_count("POST", f"/api/v1/{DIVISION}/salesentry") == 1


async def test_uncertain_create_then_find_booking_before_any_repost(exact: Exact) -> None:
    e = entry("F2026-00016")
    relation = await exact.target.ensure_relation(e.relation, e.kind, "FS42")
    exact.sim.faults.add("lost_response", method="POST", path=f"/api/v1/{DIVISION}/salesentry", times=1)
    exact.sim.faults.add("status", status=503, method="GET", path=f"/api/v1/{DIVISION}/salesentry", times=4)
    with pytest.raises(UncertainError):
        await exact.target.create_booking(e, relation)
    # The engine's reconcile: look up by reference first; found, so nothing is posted again.
    found = await exact.target.find_booking(e)
    assert found is not None and found.gross == D("121.00")
    assert exact.sim.request_count("POST", f"/api/v1/{DIVISION}/salesentry") == 1
    assert len(exact.sim.sales_entries()) == 1


async def test_purchase_numbers_repeat_across_suppliers(exact: Exact) -> None:
    a = entry("2026-1", kind=InvoiceKind.PURCHASE, party=MOLENAAR)
    other = Party(source_id="fs-supplier-8", name="Drukkerij Jansen", vat_number="")
    b = entry("2026-1", kind=InvoiceKind.PURCHASE, party=other)
    ra = await exact.target.ensure_relation(MOLENAAR, InvoiceKind.PURCHASE, "FS7")
    rb = await exact.target.ensure_relation(other, InvoiceKind.PURCHASE, "FS8")
    line_a = a.model_copy(update={"lines": (line("4000", "2", "21", "10.00", "2.10"),)})
    line_b = b.model_copy(update={"lines": (line("4000", "2", "21", "20.00", "4.20"),)})
    await exact.target.create_booking(line_a, ra)
    assert await exact.target.find_booking(line_b) is None  # same number, other supplier: not b's
    await exact.target.create_booking(line_b, rb)
    found = await exact.target.find_booking(line_b)
    assert found is not None and found.gross == D("24.20")


async def test_a_new_runs_reconcile_tells_two_suppliers_with_one_invoice_number_apart(exact: Exact) -> None:
    # Reconcile is the first step of a run: nothing was resolved in this run yet.
    other = Party(source_id="fs-supplier-8", name="Drukkerij Jansen", vat_number="")
    a = entry("2026-1", line("4000", "2", "21", "10.00", "2.10"), kind=InvoiceKind.PURCHASE, party=MOLENAAR)
    b = entry("2026-1", line("4000", "2", "21", "20.00", "4.20"), kind=InvoiceKind.PURCHASE, party=other)
    booked_a = await exact.target.create_booking(
        a, await exact.target.ensure_relation(MOLENAAR, InvoiceKind.PURCHASE, "FS7")
    )
    booked_b = await exact.target.create_booking(
        b, await exact.target.ensure_relation(other, InvoiceKind.PURCHASE, "FS8")
    )
    exact.sim.add_account("Broodfabriek Noord")  # entered by hand: no SearchCode

    run = make_target(exact.url, exact.vault, exact.oauth, exact.clock, exact.sleeps)
    found_a, found_b = await run.find_booking(a), await run.find_booking(b)
    await run.aclose()

    assert found_a is not None and found_a.remote_id == booked_a.remote_id
    assert found_b is not None and found_b.remote_id == booked_b.remote_id
    assert len(exact.sim.accounts()) == 3  # looked up, never created


async def test_a_new_runs_reconcile_does_not_take_another_suppliers_booking_for_ours(exact: Exact) -> None:
    other = Party(source_id="fs-supplier-8", name="Drukkerij Jansen", vat_number="")
    a = entry("2026-1", kind=InvoiceKind.PURCHASE, party=MOLENAAR)
    await exact.target.create_booking(
        a, await exact.target.ensure_relation(MOLENAAR, InvoiceKind.PURCHASE, "FS7")
    )
    await exact.target.ensure_relation(other, InvoiceKind.PURCHASE, "FS8")  # then the run crashed

    run = make_target(exact.url, exact.vault, exact.oauth, exact.clock, exact.sleeps)
    assert await run.find_booking(entry("2026-1", kind=InvoiceKind.PURCHASE, party=other)) is None
    await run.aclose()


async def test_a_koppelings_own_journal_is_booked_and_looked_up_there(exact: Exact) -> None:
    exact.sim.add_journal("71", "Verkoopboek detachering", 20)
    e = entry("F2026-00017").model_copy(update={"journal": "71"})
    relation = await exact.target.ensure_relation(e.relation, e.kind, "FS42")
    exact.sim.faults.add("lost_response", method="POST", path=f"/api/v1/{DIVISION}/salesentry", times=1)
    result = await exact.target.create_booking(e, relation)
    # Found again in journal 71 (not the connection's 70), so it was not posted a second time.
    assert result.already_existed
    [booked] = exact.sim.sales_entries()
    assert booked["Journal"] == "71" and booked["EntryID"] == result.remote_id
    assert exact.sim.request_count("POST", f"/api/v1/{DIVISION}/salesentry") == 1
    assert await exact.target.find_booking(e) is not None
    assert await exact.target.find_booking(e.model_copy(update={"journal": ""})) is None  # not in 70


async def test_a_purchase_journal_for_a_sales_entry_is_a_mapping_problem(exact: Exact) -> None:
    relation = await exact.target.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
    with pytest.raises(RejectedError, match=r"Dagboek 60 .* is geen verkoopboek") as info:
        await exact.target.create_booking(entry("F2026-00018").model_copy(update={"journal": "60"}), relation)
    assert info.value.origin is Origin.MAPPING and "koppeling" in info.value.advice
    assert exact.sim.request_count("POST", f"/api/v1/{DIVISION}/salesentry") == 0


async def test_lines_carry_their_cost_center(exact: Exact) -> None:
    consultancy = BookingLine(
        account_code="8100",
        vat_code="2",
        vat_rate=D(21),
        net_amount=D("1450.00"),
        vat_amount=D("304.50"),
        description="Advies inrichting magazijn",
        cost_center="200",
    )
    await book(exact, entry("F2026-00019", consultancy, line("8000", "2", "21", "50.00", "10.50")))
    [booked] = exact.sim.sales_entries()
    advice, plain = booked["SalesEntryLines"]["results"]
    assert (advice["CostCenter"].strip(), advice["CostCenterDescription"]) == ("200", "Advies")
    assert plain["CostCenter"] is None  # no kostenplaats mapped: none sent


async def test_an_unknown_cost_center_is_refused_with_exacts_words(exact: Exact) -> None:
    relation = await exact.target.ensure_relation(MOLENAAR, InvoiceKind.PURCHASE, "FS7")
    bad = BookingLine(
        account_code="4000",
        vat_code="2",
        vat_rate=D(21),
        net_amount=D("640.00"),
        vat_amount=D("134.40"),
        cost_center="350",
    )
    e = entry("INK-2026-0081", bad, kind=InvoiceKind.PURCHASE, party=MOLENAAR)
    with pytest.raises(RejectedError, match="Ongeldige referentie: Kostenplaats 350") as info:
        await exact.target.create_booking(e, relation)
    # A 500 that is a validation error: final, not retried, and something to fix in the mapping.
    assert info.value.code == "500" and info.value.origin is Origin.MAPPING
    assert "kostenplaats" in info.value.advice
    assert exact.sim.request_count("POST", f"/api/v1/{DIVISION}/purchaseentry") == 1
    assert exact.sim.purchase_entries() == []


async def test_mapping_problems_are_caught_before_sending(exact: Exact) -> None:
    relation = await exact.target.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
    before = exact.sim.request_count("POST")
    for bad, words in (
        (line("9999", "2", "21", "1.00", "0.21"), "grootboekrekening 9999 bestaat niet"),
        (line("1300", "2", "21", "1.00", "0.21"), "balansrekening"),
        (line("8000", "4", "21", "1.00", "0.21"), "btw-code 4 is 9%"),
        (line("8000", "1", "21", "1.00", "0.21"), "inclusief"),
    ):
        with pytest.raises(RejectedError, match=words) as info:
            await exact.target.create_booking(entry("F1", bad), relation)
        assert info.value.origin is Origin.MAPPING
    assert exact.sim.request_count("POST") == before


async def test_exact_refusals_are_dutch_and_final(exact: Exact) -> None:
    await exact.target.ledger_accounts()
    with pytest.raises(RejectedError, match="Ongeldige referentie: Klant") as info:
        await exact.target.create_booking(entry("F2"), "00000000-0000-0000-0000-00000000beef")
    assert info.value.code == "400" and '"value"' in info.value.exchange
    # A 500 that is a validation error (the journal vanished in Exact after we read it) is final too.
    relation = await exact.target.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
    with exact.sim.lock:
        exact.sim.division().journals.clear()
    with pytest.raises(RejectedError, match="Ongeldige referentie: Dagboek 70"):
        await exact.target.create_booking(entry("F3"), relation)
    assert exact.sim.sales_entries() == []


# --- limits -----------------------------------------------------------------------------------------


async def test_minutely_limit_is_respected_from_the_headers(exact: Exact) -> None:
    exact.sim.minutely_limit = 5
    exact.clock.set(START + 1)  # early in a minute window
    for _ in range(12):
        await exact.target.find_booking(entry())
    statuses = [r.status for r in exact.sim.request_log if r.path.startswith("/api/v1/")]
    assert 429 not in statuses
    assert len(exact.sleeps.waits) == 2 and all(50 < w <= 61 for w in exact.sleeps.waits)


async def test_a_429_waits_until_the_minutely_reset(exact: Exact) -> None:
    exact.clock.set(START + 15)
    exact.sim.faults.add("status", status=429, method="GET", path=f"/api/v1/{DIVISION}/salesentry", times=1)
    assert await exact.target.find_booking(entry()) is None
    assert exact.sleeps.waits == [pytest.approx(45.5)]  # to the reset in epoch ms, plus a margin


async def test_a_later_reset_seen_while_waiting_for_the_minute_is_not_forgotten(clock: FakeClock) -> None:
    """Two workers: one waits for the minute's reset while another's 429 names the next one. Forgetting
    that 'none left' sent the next call into a 429 (Exact counts on); it waits for the later reset."""

    def limited(reset: float) -> httpx.Response:
        minutely = {
            "X-RateLimit-Minutely-Remaining": "0",
            "X-RateLimit-Minutely-Reset": str(int(reset * 1000)),
        }
        return httpx.Response(429, headers=minutely)

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)
        if len(waits) == 1:
            governor.observe(limited(START + 120))

    governor = Governor(clock=clock, sleep=sleep)
    clock.set(START + 10)
    governor.observe(limited(START + 60))
    heard: list[tuple[str, float | None]] = []
    listening = wait_listener.set(lambda why, until: heard.append((why, until)))
    try:
        await governor.before("/salesentry/SalesEntries")
        await governor.before("/salesentry/SalesEntries")
    finally:
        wait_listener.reset(listening)

    assert waits == [pytest.approx(50.5), pytest.approx(60.0)]
    why = "Exact Online: de minuutlimiet (X-RateLimit-Minutely-Reset)"
    assert heard == [(why, START + 60.5), (why, None), (why, START + 120.5), (why, None)]


async def test_daily_limit_stops_with_a_clear_message(exact: Exact) -> None:
    exact.sim.daily_limit = 3
    for _ in range(3):
        await exact.target.find_booking(entry())
    sent = exact.sim.request_count()
    with pytest.raises(TransientError, match="daglimiet van 3 verzoeken"):
        await exact.target.find_booking(entry())
    assert exact.sim.request_count() == sent  # not even tried


async def test_error_budget_stops_well_before_exact_blocks_the_key(exact: Exact) -> None:
    await exact.target.ledger_accounts()
    refused = 0
    for i in range(15):
        try:
            await exact.target.create_booking(entry(f"F{i}"), "00000000-0000-0000-0000-00000000beef")
        except RejectedError:
            refused += 1
        except TransientError as exc:
            assert exc.code == "ERROR_BUDGET" and "Exact blokkeert na 10 fouten" in exc.message
            break
    assert refused == 8
    assert exact.sim.errors_this_hour("/salesentry/SalesEntries") == 8 and exact.sim.blocked == []
    exact.clock.advance(3601)  # an hour later the budget is back
    with pytest.raises(RejectedError):
        await exact.target.create_booking(entry("F99"), "00000000-0000-0000-0000-00000000beef")


# --- secrets ----------------------------------------------------------------------------------------


async def test_no_secret_or_token_reaches_exchanges_logs_or_database(
    exact: Exact, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await book(exact, entry())
    exact.clock.advance(580)
    await exact.target.find_booking(entry())  # a refresh
    with exact.sim.lock:
        secrets = {
            CLIENT_SECRET,
            *exact.sim.access_tokens,
            *(c.refresh_token for c in exact.sim.chains.values()),
        }
        secrets |= {t for c in exact.sim.chains.values() for t in c.used_refresh}
        secrets |= set(exact.sim.codes)
    exact.sim.revoke_all()
    exact.clock.advance(600)
    await exact.target.check()  # a refused refresh
    secrets |= {exact.first.access_token.get_secret_value(), exact.first.refresh_token.get_secret_value()}
    assert len(secrets) >= 6
    texts = [*exact.target.client.exchanges, *exact.oauth.client.exchanges, caplog.text]
    database = b"".join(p.read_bytes() for p in tmp_path.glob("koppelaar.db*"))
    for secret in secrets:
        assert all(secret not in text for text in texts), "a secret reached an exchange or the log"
        assert secret.encode() not in database, "a token is plaintext in the database"
    assert any("grant_type=refresh_token" in t for t in exact.oauth.client.exchanges)
