"""EBoekhoudenRest over real HTTP against the e-Boekhouden simulator (sandbox/).

The invoice data and helpers here are shared with test_eboekhouden_soap.py: both dialects must book
the same invoices the same way.

Each test describes what a bookkeeper would notice: the right relation, the right mutation to the
cent, exactly one booking per invoice whatever the network does, and advice in Dutch when it fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import date
from decimal import Decimal
from typing import Protocol

import httpx
import pytest
from pydantic import SecretStr

from connectors.contract import BookingTarget, CreateResult, Health, RateLimit
from connectors.eboekhouden import EBoekhoudenRest
from connectors.errors import AuthError, ConnectorError, Origin, RejectedError, UncertainError
from connectors.http import VendorClient
from connectors.model import BookingLine, ForeignAmount, InvoiceKind, JournalEntry, Party
from sandbox.base import RequestRecord
from sandbox.eb_store import Mutation
from sandbox.eboekhouden import EBoekhoudenSim
from sandbox.server import SandboxServer

# Distinctive values, so a leak anywhere is found by a plain substring scan.
API_TOKEN = "ebtok-S3NT1NEL-9f2c7a41d0e8"
D = Decimal


class Sleeps:
    """Records every pause the client asks for, instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def eb() -> EBoekhoudenSim:
    sim = EBoekhoudenSim()
    sim.add_api_token(API_TOKEN)
    return sim


@pytest.fixture
def url(eb: EBoekhoudenSim) -> Iterator[str]:
    with SandboxServer(eboekhouden=eb) as server:
        yield server.eboekhouden_url


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def connect(url: str, sleeps: Sleeps, *, token: str = API_TOKEN, read: float = 5.0) -> EBoekhoudenRest:
    return EBoekhoudenRest(
        SecretStr(token),
        base_url=url,
        rate_limit=RateLimit(per_second=1000, max_concurrency=4),
        timeout=httpx.Timeout(read, connect=2.0),
        sleep=sleeps,
    )


@pytest.fixture
async def rest(url: str, sleeps: Sleeps) -> AsyncIterator[EBoekhoudenRest]:
    connector = connect(url, sleeps)
    yield connector
    await connector.aclose()


# --- realistic Dutch data ----------------------------------------------------------------------

BAKKERIJ = Party(
    source_id="fs-client-42",
    name="Bakkerij De Vries B.V.",
    vat_number="NL004495445B01",
    coc_number="12345678",
    address="Dorpsstraat 12",
    postal_code="3421 AB",
    city="Oudewater",
    email="administratie@bakkerijdevries.nl",
    iban="NL91ABNA0417164300",
)
MEELHANDEL = Party(
    source_id="fs-supplier-7",
    name="Meelhandel Molenaar B.V.",
    vat_number="NL810433941B01",
    city="Zaandam",
)


def line(
    account: str, code: str, rate: str, net: str, vat: str, description: str = "", cost_center: str = ""
) -> BookingLine:
    return BookingLine(
        account_code=account,
        vat_code=code,
        vat_rate=D(rate),
        net_amount=D(net),
        vat_amount=D(vat),
        description=description,
        cost_center=cost_center,
    )


def sales_invoice(
    number: str = "F2026-00013",
    *,
    lines: tuple[BookingLine, ...] | None = None,
    on: date = date(2026, 1, 21),
    credit_note: bool = False,
    foreign: ForeignAmount | None = None,
) -> JournalEntry:
    return JournalEntry(
        reference=f"factuursturen:{number}",
        kind=InvoiceKind.SALES,
        credit_note=credit_note,
        date=on,
        due_date=date.fromordinal(on.toordinal() + 30),
        invoice_number=number,
        description=f"Factuur {number} Bakkerij De Vries",
        relation=BAKKERIJ,
        lines=lines
        or (
            line("8000", "HOOG_VERK_21", "21", "1250.00", "262.50", "Broodjes en gebak januari"),
            line("8010", "LAAG_VERK_9", "9", "80.00", "7.20", "Koffie en thee"),
        ),
        payment_reference="2026000130042",
        foreign=foreign,
    )


def purchase_invoice(number: str = "MM-2026-118") -> JournalEntry:
    return JournalEntry(
        reference=f"factuursturen:inkoop:{number}",
        kind=InvoiceKind.PURCHASE,
        date=date(2026, 1, 14),
        due_date=date(2026, 1, 28),
        invoice_number=number,
        description=f"Inkoopfactuur {number} meel en gist",
        relation=MEELHANDEL,
        lines=(
            line("7000", "LAAG_INK_9", "9", "412.35", "37.11", "Tarwebloem 25 kg x 15"),
            line("4300", "HOOG_INK_21", "21", "19.99", "4.20", "Bezorgkosten"),
        ),
    )


async def book(connector: EBoekhoudenRest, entry: JournalEntry, code: str = "DEB0042") -> CreateResult:
    relation_id = await connector.ensure_relation(entry.relation, entry.kind, code)
    return await connector.create_booking(entry, relation_id)


def only_mutation(eb: EBoekhoudenSim) -> Mutation:
    assert len(eb.mutations) == 1, [m.invoice_number for m in eb.mutations]
    return eb.mutations[0]


class Connected(Protocol):
    client: VendorClient


async def seen(eb: EBoekhoudenSim, *connectors: Connected) -> list[RequestRecord]:
    """The simulator's request log once it holds every request these connectors sent.

    The simulator logs a request just after its response went out, so the client can be a request
    ahead of the log; wait (bounded) for it to catch up rather than read a log that is one short.
    """
    sent = sum(c.client.request_count for c in connectors)
    for _ in range(200):
        if len(eb.request_log) >= sent:
            break
        await asyncio.sleep(0.01)
    return eb.request_log


def posts(log: list[RequestRecord], path: str) -> list[int]:
    """Statuses of the POSTs the simulator saw on `path` (0: connection dropped)."""
    return [r.status for r in log if r.method == "POST" and r.path == path]


def count(log: list[RequestRecord], method: str, path: str) -> int:
    return sum(1 for r in log if r.method == method and r.path == path)


# --- check() and the session --------------------------------------------------------------------


def test_is_a_booking_target(rest: EBoekhoudenRest) -> None:
    assert isinstance(rest, BookingTarget)


async def test_valid_token_is_ok(rest: EBoekhoudenRest) -> None:
    result = await rest.check()
    assert result.health is Health.OK, result


async def test_wrong_token_is_auth_failed_with_new_token_advice(url: str, sleeps: Sleeps) -> None:
    connector = connect(url, sleeps, token="ebtok-WRONG-0000")
    result = await connector.check()
    await connector.aclose()
    assert result.health is Health.AUTH_FAILED
    assert "API_SESSION_004" in result.reason
    assert "nieuw API-token" in result.advice


async def test_revoked_token_advises_a_new_token(eb: EBoekhoudenSim, rest: EBoekhoudenRest) -> None:
    assert (await rest.check()).ok
    eb.revoke_token(API_TOKEN)

    result = await rest.check()
    assert result.health is Health.AUTH_FAILED
    assert "Beheer → Inrichting → Koppelingen → API" in result.advice
    assert "nieuw API-token" in result.advice
    # Mid-run the open session is gone too: re-opening fails once, with the same advice.
    with pytest.raises(AuthError) as caught:
        await rest.administraties()
    assert "nieuw API-token" in caught.value.advice


async def test_expired_session_is_reopened_once_transparently(
    eb: EBoekhoudenSim, rest: EBoekhoudenRest
) -> None:
    assert (await rest.check()).ok
    eb.expire_sessions()

    relation_id = await rest.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    await rest.ledger_accounts()
    eb.expire_sessions()  # now the create itself meets the expired session
    result = await rest.create_booking(sales_invoice(), relation_id)

    assert result.remote_id == str(only_mutation(eb).id)
    log = await seen(eb, rest)
    assert posts(log, "/v1/session") == [200, 200, 200]
    assert posts(log, "/v1/mutation") == [401, 200]  # a 401 was not processed: safe to send again


async def test_session_that_cannot_be_reopened_fails_after_one_try(
    eb: EBoekhoudenSim, rest: EBoekhoudenRest
) -> None:
    assert (await rest.check()).ok
    eb.revoke_token(API_TOKEN)
    start = len(await seen(eb, rest))
    with pytest.raises(AuthError):
        await rest.ledger_accounts()
    assert [(r.method, r.path, r.status) for r in (await seen(eb, rest))[start:]] == [
        ("GET", "/v1/ledger", 401),
        ("POST", "/v1/session", 401),
    ]


async def test_a_run_that_books_nothing_costs_two_requests(
    url: str, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    connector = connect(url, sleeps)
    assert (await connector.check()).ok
    await connector.aclose()
    assert connector.client.request_count <= 2
    assert len(await seen(eb, connector)) <= 2
    assert not eb.sessions  # the session was closed, not left to expire


# --- reference data -----------------------------------------------------------------------------


async def test_administraties(rest: EBoekhoudenRest, eb: EBoekhoudenSim) -> None:
    found = await rest.administraties()
    assert [(a.id, a.name) for a in found] == [(eb.default.guid, "Koppelaar Demo B.V.")]


async def test_ledger_accounts_are_read_across_pages(rest: EBoekhoudenRest, eb: EBoekhoudenSim) -> None:
    with eb.lock:  # a big chart: more ledgers than fit on one page
        for n in range(600):
            eb.default.add_ledger(f"9{n:03d}", f"Kostenplaats rekening {n}", "VW")
    ledgers = await rest.ledger_accounts()

    assert len(ledgers) == 628
    assert len({ledger.id for ledger in ledgers}) == 628
    debiteuren = next(ledger for ledger in ledgers if ledger.code == "1300")
    assert (debiteuren.id, debiteuren.name, debiteuren.category) == (
        str(eb.ledger_id("1300")),
        "Debiteuren",
        "DEB",
    )
    assert count(await seen(eb, rest), "GET", "/v1/ledger") == 2
    await rest.ledger_accounts()  # cached for the run
    assert count(await seen(eb, rest), "GET", "/v1/ledger") == 2


async def test_vat_codes_are_the_dutch_enum(rest: EBoekhoudenRest, eb: EBoekhoudenSim) -> None:
    codes = {c.code: c for c in await rest.vat_codes()}
    assert {"HOOG_VERK_21", "LAAG_VERK_9", "AFW_VERK", "HOOG_INK_21", "AFW", "VERL_INK_L", "GEEN"} <= set(
        codes
    )
    assert not any(code.startswith("BE_") for code in codes)
    assert codes["HOOG_VERK_21"].rate == 21 and codes["HOOG_VERK_21"].kind is InvoiceKind.SALES
    assert rest.default_vat_code(InvoiceKind.SALES, D(21), False) == "HOOG_VERK_21"
    assert rest.default_vat_code(InvoiceKind.PURCHASE, D(9), False) == "LAAG_INK_9"
    assert rest.client.request_count == 0  # a fixed enum: no endpoint


async def test_cost_centers_are_the_active_ones_read_across_pages(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    # A project organisation: more kostenplaatsen than fit on one page, a few of them closed.
    projects = [eb.add_cost_center(f"Project P2026-{n:03d}", active=n % 50 != 7) for n in range(600)]
    centers = await rest.cost_centers()

    seeded = {c.description: c for c in eb.cost_centers}
    assert [(c.code, c.name) for c in centers[:4]] == [
        (str(seeded[name].id), name) for name in ("Algemeen", "Advies", "Detachering", "Projecten Zuid")
    ]
    assert "Vestiging Tilburg" not in {c.name for c in centers}  # inactive: not offered
    assert [c.code for c in centers[4:]] == [str(p.id) for p in projects if p.active]
    assert len(centers) == 4 + 588
    assert count(await seen(eb, rest), "GET", "/v1/costcenter") == 2


async def test_journals_are_none_because_e_boekhouden_books_by_mutation_type(rest: EBoekhoudenRest) -> None:
    assert await rest.journals() == []
    assert rest.client.request_count == 0


# --- relations ----------------------------------------------------------------------------------


async def test_new_relation_is_created_with_our_code(rest: EBoekhoudenRest, eb: EBoekhoudenSim) -> None:
    relation_id = await rest.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")

    [created] = eb.relations
    assert str(created.id) == relation_id
    assert (created.code, created.type, created.name) == ("DEB0042", "B", "Bakkerij De Vries B.V.")
    assert (created.vat_number, created.coc_number, created.city) == (
        "NL004495445B01",
        "12345678",
        "Oudewater",
    )
    assert created.iban == "NL91ABNA0417164300"
    # The run remembers it: no second lookup.
    before = rest.client.request_count
    assert await rest.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042") == relation_id
    assert rest.client.request_count == before


async def test_concurrent_calls_for_one_new_relation_create_it_once(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    ids = await asyncio.gather(
        *(rest.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042") for _ in range(3))
    )
    assert len(set(ids)) == 1
    assert [r.code for r in eb.relations] == ["DEB0042"]


async def test_relation_created_meanwhile_by_someone_else_is_adopted(
    url: str, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    # Two workers look up the same new relation; the first create is slow, the second wins.
    eb.faults.add("latency", method="POST", path="/v1/relation", ms=300, times=1)
    first, second = connect(url, sleeps), connect(url, sleeps)
    ids = await asyncio.gather(
        first.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042"),
        second.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042"),
    )
    await first.aclose()
    await second.aclose()

    assert ids[0] == ids[1] == str(eb.relations[0].id)
    assert len(eb.relations) == 1
    assert sorted(posts(await seen(eb, first, second), "/v1/relation")) == [
        200,
        400,
    ]  # the slow one got REL_049 and looked it up


# --- bookings -----------------------------------------------------------------------------------


async def test_sales_invoice_is_booked_as_type_2_on_debiteuren(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    entry = sales_invoice()
    result = await book(rest, entry)

    booked = only_mutation(eb)
    assert result == CreateResult(remote_id=str(booked.id))
    assert booked.type == 2
    assert booked.date == "2026-01-21"
    assert booked.ledger_id == eb.ledger_id("1300")
    assert booked.relation_id == eb.relations[0].id
    assert booked.invoice_number == "F2026-00013"
    assert booked.in_ex_vat == "EX"
    assert booked.description == "Factuur F2026-00013 Bakkerij De Vries"
    assert booked.term_of_payment == 30
    assert booked.payment_reference == "2026000130042"
    assert [(r.ledger_id, r.vat_code, r.amount, r.vat_amount) for r in booked.rows] == [
        (eb.ledger_id("8000"), "HOOG_VERK_21", D("1250.00"), D("262.50")),
        (eb.ledger_id("8010"), "LAAG_VERK_9", D("80.00"), D("7.20")),
    ]
    assert [r.description for r in booked.rows] == ["Broodjes en gebak januari", "Koffie en thee"]
    assert booked.amount == entry.total_gross == D("1599.70")
    assert booked.via == "rest"


async def test_purchase_invoice_is_booked_as_type_1_on_crediteuren(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    entry = purchase_invoice()
    await book(rest, entry, code="CRED0007")

    booked = only_mutation(eb)
    assert booked.type == 1
    assert booked.ledger_id == eb.ledger_id("1600")
    assert eb.relations[0].code == "CRED0007"
    assert booked.relation_id == eb.relations[0].id
    assert booked.invoice_number == "MM-2026-118"
    assert [(r.ledger_id, r.vat_code, r.amount, r.vat_amount) for r in booked.rows] == [
        (eb.ledger_id("7000"), "LAAG_INK_9", D("412.35"), D("37.11")),
        (eb.ledger_id("4300"), "HOOG_INK_21", D("19.99"), D("4.20")),
    ]
    assert booked.amount == entry.total_gross == D("473.65")


async def test_credit_note_is_booked_with_negative_amounts(rest: EBoekhoudenRest, eb: EBoekhoudenSim) -> None:
    entry = sales_invoice(
        "F2026-00021",
        credit_note=True,
        lines=(line("8000", "HOOG_VERK_21", "21", "-112.45", "-23.61", "Creditering retour taarten"),),
    )
    await book(rest, entry)

    booked = only_mutation(eb)
    assert booked.type == 2
    assert [(r.vat_code, r.amount, r.vat_amount) for r in booked.rows] == [
        ("HOOG_VERK_21", D("-112.45"), D("-23.61"))
    ]
    assert booked.amount == D("-136.06")


async def test_vat_cents_rounded_per_invoice_are_booked_as_afwijkend(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    # Per line 21% of 10.04 is 2.11 and of 10.02 is 2.10; the invoice rounded its total VAT (4.21)
    # as 2.10 + 2.11, so the first line's cents differ from what e-Boekhouden would compute.
    entry = sales_invoice(
        "F2026-00022",
        lines=(
            line("8000", "HOOG_VERK_21", "21", "10.04", "2.10", "Krentenbollen"),
            line("8000", "HOOG_VERK_21", "21", "10.02", "2.11", "Roggebrood"),
        ),
    )
    await book(rest, entry)

    booked = only_mutation(eb)
    assert [(r.vat_code, r.amount, r.vat_amount, r.vat_given) for r in booked.rows] == [
        ("AFW_VERK", D("10.04"), D("2.10"), True),
        ("AFW_VERK", D("10.02"), D("2.11"), True),
    ]
    assert booked.total_vat == entry.total_vat == D("4.21")


async def test_only_lines_whose_cents_differ_become_afwijkend(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    entry = sales_invoice(
        "F2026-00023",
        lines=(
            line("8000", "HOOG_VERK_21", "21", "100.00", "21.00"),
            line("8000", "HOOG_VERK_21", "21", "10.04", "2.10"),
        ),
    )
    await book(rest, entry)
    rows = only_mutation(eb).rows
    assert [(r.vat_code, r.vat_amount) for r in rows] == [
        ("HOOG_VERK_21", D("21.00")),
        ("AFW_VERK", D("2.10")),
    ]


async def test_foreign_currency_invoice_keeps_original_amount_and_ecb_rate_in_description(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    usd = ForeignAmount(currency="USD", gross=D("1633.50"), rate=D("1.0890"), rate_date=date(2026, 1, 20))
    entry = sales_invoice(
        "F2026-00024",
        lines=(line("8000", "HOOG_VERK_21", "21", "1239.67", "260.33", "Catering congres"),),
        foreign=usd,
    )
    await book(rest, entry)

    booked = only_mutation(eb)
    assert "USD 1633.50" in booked.description
    assert "ECB-koers 1.089" in booked.description
    assert "2026-01-20" in booked.description
    assert booked.amount == D("1500.00")  # booked in EUR: there is no currency field


def kostenplaats(eb: EBoekhoudenSim, name: str) -> int:
    return next(c.id for c in eb.cost_centers if c.description == name)


async def test_cost_centre_of_a_line_lands_on_its_mutation_row(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    advies = kostenplaats(eb, "Advies")
    entry = sales_invoice(
        "F2026-00025",
        lines=(
            line("8000", "HOOG_VERK_21", "21", "950.00", "199.50", "Advies bedrijfsplan", str(advies)),
            line("8010", "LAAG_VERK_9", "9", "42.50", "3.83", "Vakliteratuur"),
        ),
    )
    await book(rest, entry)

    booked = only_mutation(eb)
    assert [(r.ledger_id, r.cost_center_id) for r in booked.rows] == [
        (eb.ledger_id("8000"), advies),
        (eb.ledger_id("8010"), None),  # no kostenplaats: none sent
    ]


# --- never twice, never lost --------------------------------------------------------------------


async def test_posting_the_same_invoice_twice_books_it_once(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    first = await book(rest, sales_invoice())
    again = await book(rest, sales_invoice())

    assert again == CreateResult(remote_id=first.remote_id, already_existed=True)
    assert only_mutation(eb).id == int(first.remote_id)


async def test_a_later_run_posting_the_same_purchase_invoice_books_it_once(
    url: str, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    first_run = connect(url, sleeps)
    first = await book(first_run, purchase_invoice(), code="CRED0007")
    await first_run.aclose()
    second_run = connect(url, sleeps)
    again = await book(second_run, purchase_invoice(), code="CRED0007")
    await second_run.aclose()

    assert again == CreateResult(remote_id=first.remote_id, already_existed=True)
    assert len(eb.mutations) == 1


async def test_same_number_from_another_supplier_is_its_own_booking(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    # Purchase invoice numbers are only unique per supplier.
    await book(rest, purchase_invoice("2026-001"), code="CRED0007")
    other = purchase_invoice("2026-001").model_copy(update={"relation": BAKKERIJ})
    result = await book(rest, other, code="CRED0042")
    assert not result.already_existed
    assert len(eb.mutations) == 2
    found = await rest.find_booking(other)
    assert found is not None and found.remote_id == result.remote_id


async def test_a_new_runs_reconcile_tells_two_suppliers_with_one_invoice_number_apart(
    url: str, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    # Reconcile is the first step of a run: nothing was resolved in this run yet.
    earlier = connect(url, sleeps)
    ours = purchase_invoice("2026-001")
    theirs = ours.model_copy(update={"relation": BAKKERIJ})
    booked = await book(earlier, ours, code="CRED0007")
    other = await book(earlier, theirs, code="CRED0042")
    await earlier.aclose()

    run = connect(url, sleeps)
    found, found_other = await run.find_booking(ours), await run.find_booking(theirs)
    await run.aclose()

    assert found is not None and found.remote_id == booked.remote_id
    assert found_other is not None and found_other.remote_id == other.remote_id
    assert posts(await seen(eb, earlier, run), "/v1/relation") == [200, 200]  # looked up, never created


async def test_a_new_runs_reconcile_does_not_take_another_suppliers_booking_for_ours(
    url: str, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    # The crashed run resolved our supplier, then sent nothing; another supplier has the same number.
    earlier = connect(url, sleeps)
    await book(earlier, purchase_invoice("2026-001"), code="CRED0007")
    await earlier.ensure_relation(BAKKERIJ, InvoiceKind.PURCHASE, "CRED0042")
    await earlier.aclose()

    run = connect(url, sleeps)
    assert (
        await run.find_booking(purchase_invoice("2026-001").model_copy(update={"relation": BAKKERIJ})) is None
    )
    await run.aclose()


async def test_a_relation_id_from_the_engine_narrows_without_looking_the_relation_up(
    url: str, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    earlier = connect(url, sleeps)
    await book(earlier, purchase_invoice("2026-001"), code="CRED0007")
    theirs = purchase_invoice("2026-001").model_copy(update={"relation": BAKKERIJ})
    relation_id = await earlier.ensure_relation(BAKKERIJ, InvoiceKind.PURCHASE, "CRED0042")
    other = await earlier.create_booking(theirs, relation_id)
    await earlier.aclose()

    run = connect(url, sleeps)
    found = await run.find_booking(theirs, relation_id)
    # The session, the list and each candidate read whole (a list item names no relation): no relation lookup.
    assert run.client.request_count == 4
    assert not [r for r in eb.request_log[-4:] if r.path.startswith("/v1/relation")]
    await run.aclose()

    assert found is not None and found.remote_id == other.remote_id


async def test_lost_response_on_create_is_uncertain_and_the_booking_is_found(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    entry = sales_invoice()
    relation_id = await rest.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    eb.faults.add("lost_response", method="POST", path="/v1/mutation", times=1)

    with pytest.raises(UncertainError):
        await rest.create_booking(entry, relation_id)
    found = await rest.find_booking(entry)

    booked = only_mutation(eb)
    assert found is not None
    assert (found.remote_id, found.invoice_number, found.gross) == (
        str(booked.id),
        "F2026-00013",
        D("1599.70"),
    )
    assert posts(await seen(eb, rest), "/v1/mutation") == [200]  # sent once, never repeated by the client


async def test_connection_reset_on_create_is_uncertain_and_nothing_is_found(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    entry = sales_invoice()
    relation_id = await rest.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    eb.faults.add("reset", method="POST", path="/v1/mutation", times=1)

    with pytest.raises(UncertainError) as caught:
        await rest.create_booking(entry, relation_id)
    assert caught.value.retryable
    assert await rest.find_booking(entry) is None
    assert eb.mutations == []
    assert posts(await seen(eb, rest), "/v1/mutation") == [0]


async def test_timeout_on_create_is_uncertain(url: str, eb: EBoekhoudenSim, sleeps: Sleeps) -> None:
    connector = connect(url, sleeps, read=0.5)
    entry = sales_invoice()
    relation_id = await connector.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    eb.faults.add("timeout", method="POST", path="/v1/mutation", seconds=2, times=1)

    with pytest.raises(UncertainError):
        await connector.create_booking(entry, relation_id)
    assert await connector.find_booking(entry) is None
    await connector.aclose()
    assert posts(await seen(eb, connector), "/v1/mutation") == [0]


async def test_malformed_answer_on_create_is_uncertain_and_the_booking_is_found(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    entry = sales_invoice()
    relation_id = await rest.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    eb.faults.add("malformed", method="POST", path="/v1/mutation", times=1)

    with pytest.raises(UncertainError):
        await rest.create_booking(entry, relation_id)
    found = await rest.find_booking(entry)
    assert found is not None and found.remote_id == str(only_mutation(eb).id)


async def test_rate_limited_create_is_retried_once_after_retry_after(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    relation_id = await rest.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    eb.faults.add("status", method="POST", path="/v1/mutation", status=429, retry_after=3, times=1)

    result = await rest.create_booking(sales_invoice(), relation_id)

    assert result.remote_id == str(only_mutation(eb).id)
    assert posts(await seen(eb, rest), "/v1/mutation") == [429, 200]
    assert sleeps.waits == [3.0]


async def test_server_error_on_a_read_is_retried(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    eb.faults.add("status", method="GET", path="/v1/ledger", status=500, times=1)
    ledgers = await rest.ledger_accounts()
    assert len(ledgers) == 28
    assert count(await seen(eb, rest), "GET", "/v1/ledger") == 2
    assert len(sleeps.waits) == 1 and 0 < sleeps.waits[0] <= 8


async def test_malformed_answer_on_a_read_is_retried(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    eb.faults.add("malformed", method="GET", path="/v1/administration", times=1)
    assert len(await rest.administraties()) == 1
    assert count(await seen(eb, rest), "GET", "/v1/administration") == 2
    assert len(sleeps.waits) == 1


async def test_read_that_stays_malformed_is_a_transient_error(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    eb.faults.add("malformed", method="GET", path="/v1/administration")
    with pytest.raises(ConnectorError) as caught:
        await rest.administraties()
    assert caught.value.retryable
    assert "onleesbaar" in caught.value.message


async def test_timeout_on_a_read_is_retried(url: str, eb: EBoekhoudenSim, sleeps: Sleeps) -> None:
    connector = connect(url, sleeps, read=0.5)
    eb.faults.add("timeout", method="GET", path="/v1/ledger", seconds=2, times=1)
    assert len(await connector.ledger_accounts()) == 28
    await connector.aclose()


# --- refusals with Dutch advice -----------------------------------------------------------------


async def test_closed_period_is_rejected_with_vendor_code_and_advice(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    eb.close_period("2025-12-31")
    with pytest.raises(RejectedError) as caught:
        await book(rest, sales_invoice("F2025-00999", on=date(2025, 12, 15)))

    error = caught.value
    assert error.code == "MUT_005"
    assert "periode is afgesloten" in error.message
    assert "heropenen" in error.advice
    assert not error.retryable
    assert eb.mutations == []


async def test_unknown_ledger_is_rejected_with_mapping_advice(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    entry = sales_invoice(lines=(line("8999", "HOOG_VERK_21", "21", "100.00", "21.00"),))
    with pytest.raises(RejectedError) as caught:
        await book(rest, entry)

    error = caught.value
    assert error.code == "MUT_007"
    assert "8999" in error.message
    assert "tegenrekening in de mapping" in error.advice
    assert error.origin is Origin.MAPPING
    assert posts(await seen(eb, rest), "/v1/mutation") == []


async def test_unknown_cost_centre_is_refused_by_e_boekhouden_with_mapping_advice(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    # A kostenplaats that was deleted in e-Boekhouden after it was mapped.
    entry = sales_invoice(
        lines=(line("8000", "HOOG_VERK_21", "21", "100.00", "21.00", cost_center="411999"),)
    )
    with pytest.raises(RejectedError) as caught:
        await book(rest, entry)

    error = caught.value
    assert error.code == "MUT_113"
    assert "kostenplaats bestaat niet" in error.message
    assert "Cost center 411999 not found" in error.message  # the vendor's own words are kept
    assert error.advice == "Kies de kostenplaats opnieuw onder Mapping."
    assert error.origin is Origin.MAPPING and not error.retryable
    assert eb.mutations == []
    assert posts(await seen(eb, rest), "/v1/mutation") == [400]


async def test_cost_centre_that_is_no_e_boekhouden_id_is_refused_before_sending(
    rest: EBoekhoudenRest, eb: EBoekhoudenSim
) -> None:
    # A code from another package (e.g. Twinfield's KP-ADVIES) cannot be an e-Boekhouden kostenplaats.
    entry = sales_invoice(
        lines=(line("8000", "HOOG_VERK_21", "21", "100.00", "21.00", cost_center="KP-ADVIES"),)
    )
    with pytest.raises(RejectedError) as caught:
        await book(rest, entry)

    error = caught.value
    assert error.code == "COST_CENTER"
    assert "F2026-00013" in error.message and "KP-ADVIES" in error.message
    assert error.advice == "Kies de kostenplaats opnieuw onder Mapping."
    assert error.origin is Origin.MAPPING
    assert posts(await seen(eb, rest), "/v1/mutation") == []


# --- secrets ------------------------------------------------------------------------------------


async def test_secrets_never_appear_in_errors_exchanges_or_reprs(
    url: str, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    session_tokens: set[str] = set()
    texts: list[str] = []

    def collect(error: ConnectorError) -> None:
        texts.extend([str(error), error.message, error.advice, error.exchange, repr(error)])

    wrong = connect(url, sleeps, token=API_TOKEN + "-OLD")
    result = await wrong.check()
    texts += [result.reason, result.advice, *wrong.client.exchanges, repr(wrong), repr(wrong.client)]
    await wrong.aclose()

    connector = connect(url, sleeps)
    assert (await connector.check()).ok
    session_tokens |= set(eb.sessions)
    relation_id = await connector.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    eb.expire_sessions()  # a second session token, learnt mid-run
    await connector.create_booking(sales_invoice(), relation_id)
    session_tokens |= set(eb.sessions)

    eb.close_period("2025-12-31")
    with pytest.raises(RejectedError) as rejected:
        await connector.create_booking(sales_invoice("F2025-00999", on=date(2025, 12, 15)), relation_id)
    collect(rejected.value)
    eb.faults.add("lost_response", method="POST", path="/v1/mutation", times=1)
    with pytest.raises(UncertainError) as uncertain:
        await connector.create_booking(sales_invoice("F2026-00030"), relation_id)
    collect(uncertain.value)
    eb.revoke_token(API_TOKEN)
    with pytest.raises(AuthError) as auth:
        await connector.administraties()
    collect(auth.value)
    texts += [*connector.client.exchanges, repr(connector), repr(connector.client)]
    await connector.aclose()

    assert len(session_tokens) == 2
    everything = "\n".join(texts)
    assert "POST" in everything and "/v1/mutation" in everything  # the scan looked at real exchanges
    for secret in (API_TOKEN, *session_tokens):
        assert secret not in everything


async def test_only_winst_en_verlies_accounts_are_offered_as_tegenrekening(rest: EBoekhoudenRest) -> None:
    # An invoice's revenue or costs never land on a balance account (0100 Inventaris) or a VAT account.
    offered = {ledger.code for ledger in await rest.ledger_accounts() if ledger.tegenrekening}
    assert "0100" not in offered and "1500" not in offered and "1300" not in offered
    assert {"4600", "7000", "8000", "8900"} <= offered
