"""EBoekhoudenSoap (legacy API) over real HTTP against the e-Boekhouden simulator (sandbox/).

The same invoices as the REST tests must land in e-Boekhouden the same way; SOAP adds its own
credentials (gebruikersnaam, Beveiligingscode 1 and 2) and reports business errors in HTTP 200.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import date

import httpx
import pytest
from pydantic import SecretStr

from connectors.contract import BookingTarget, CreateResult, Health, RateLimit
from connectors.eboekhouden import EBoekhoudenSoap
from connectors.errors import AuthError, ConnectorError, Origin, RejectedError, UncertainError
from connectors.model import ForeignAmount, InvoiceKind, JournalEntry
from sandbox.base import RequestRecord
from sandbox.eboekhouden import EBoekhoudenSim
from sandbox.server import SandboxServer
from tests.connectors.test_eboekhouden_rest import (
    BAKKERIJ,
    MEELHANDEL,
    D,
    Sleeps,
    kostenplaats,
    line,
    only_mutation,
    purchase_invoice,
    sales_invoice,
    seen,
)

USER = "bakkerij.devries"
# Distinctive values (formats as e-Boekhouden shows them), so a leak is found by a substring scan.
CODE1 = "C0DE1C0DE1A5E7B9D2F4C6E8A0B2D4F6"
CODE2 = "C0DE2C0D-E2AB-4CDE-8F01-23456789ABCD"
ADVICE_PASSWORD = "Beveiligingscode 1 verandert wanneer het wachtwoord van e-Boekhouden wordt gewijzigd"


@pytest.fixture
def eb() -> EBoekhoudenSim:
    sim = EBoekhoudenSim()
    sim.add_soap_user(USER, CODE1, CODE2)
    return sim


@pytest.fixture
def url(eb: EBoekhoudenSim) -> Iterator[str]:
    with SandboxServer(eboekhouden=eb) as server:
        yield server.eboekhouden_url + "/soap.asmx"


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def connect(
    url: str, sleeps: Sleeps, *, code1: str = CODE1, code2: str = CODE2, read: float = 5.0
) -> EBoekhoudenSoap:
    return EBoekhoudenSoap(
        USER,
        SecretStr(code1),
        SecretStr(code2),
        base_url=url,
        rate_limit=RateLimit(per_second=1000, max_concurrency=4),
        timeout=httpx.Timeout(read, connect=2.0),
        sleep=sleeps,
    )


@pytest.fixture
async def soap(url: str, sleeps: Sleeps) -> AsyncIterator[EBoekhoudenSoap]:
    connector = connect(url, sleeps)
    yield connector
    await connector.aclose()


async def book(connector: EBoekhoudenSoap, entry: JournalEntry, code: str = "DEB0042") -> CreateResult:
    relation_id = await connector.ensure_relation(entry.relation, entry.kind, code)
    return await connector.create_booking(entry, relation_id)


def calls(log: list[RequestRecord], operation: str) -> list[int]:
    """HTTP statuses of the calls of one SOAP operation the simulator saw (0: connection dropped)."""
    return [r.status for r in log if r.action == operation]


# --- check() and the session --------------------------------------------------------------------


def test_is_a_booking_target(soap: EBoekhoudenSoap) -> None:
    assert isinstance(soap, BookingTarget)


async def test_valid_codes_are_ok(soap: EBoekhoudenSoap) -> None:
    result = await soap.check()
    assert result.health is Health.OK, result


async def test_wrong_codes_are_auth_failed_with_where_to_find_them(url: str, sleeps: Sleeps) -> None:
    connector = connect(url, sleeps, code2="00000000-0000-0000-0000-000000000000")
    result = await connector.check()
    await connector.aclose()
    assert result.health is Health.AUTH_FAILED
    assert "ERR_LOGIN" in result.reason
    assert "Beheer → Instellingen → Koppelingen → API/SOAP" in result.advice


async def test_password_change_tells_that_beveiligingscode_1_changed(
    eb: EBoekhoudenSim, soap: EBoekhoudenSoap
) -> None:
    assert (await soap.check()).ok
    eb.change_password(USER)

    # Mid-run the session ends with the password: the call re-opens once, which the old code 1 fails.
    with pytest.raises(AuthError) as caught:
        await soap.ledger_accounts()
    assert ADVICE_PASSWORD in caught.value.advice
    assert calls(await seen(eb, soap), "OpenSession") == [200, 200]

    result = await soap.check()
    assert result.health is Health.AUTH_FAILED
    assert ADVICE_PASSWORD in result.advice


async def test_new_beveiligingscode_1_works_again(url: str, eb: EBoekhoudenSim, sleeps: Sleeps) -> None:
    new_code1 = eb.change_password(USER)
    connector = connect(url, sleeps, code1=new_code1)
    assert (await connector.check()).ok
    await connector.aclose()


async def test_expired_session_is_reopened_once_transparently(
    eb: EBoekhoudenSim, soap: EBoekhoudenSoap
) -> None:
    assert (await soap.check()).ok
    eb.expire_sessions()
    relation_id = await soap.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    await soap.ledger_accounts()
    eb.expire_sessions()  # now the booking itself meets the expired session

    result = await soap.create_booking(sales_invoice(), relation_id)

    assert result.remote_id == str(only_mutation(eb).id)
    log = await seen(eb, soap)
    assert len(calls(log, "OpenSession")) == 3
    assert len(calls(log, "AddMutatie")) == 2  # ERR_SESSION is refused before booking: safe to resend


async def test_a_run_that_books_nothing_costs_two_requests(
    url: str, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    connector = connect(url, sleeps)
    assert (await connector.check()).ok
    await connector.aclose()
    assert connector.client.request_count <= 2
    assert len(await seen(eb, connector)) <= 2
    assert not eb.sessions  # closed, not left to expire


# --- reference data -----------------------------------------------------------------------------


async def test_administraties(soap: EBoekhoudenSoap, eb: EBoekhoudenSim) -> None:
    found = await soap.administraties()
    assert [(a.id, a.name) for a in found] == [(eb.default.guid, "Koppelaar Demo B.V.")]


async def test_ledger_accounts(soap: EBoekhoudenSoap, eb: EBoekhoudenSim) -> None:
    ledgers = await soap.ledger_accounts()
    assert len(ledgers) == 28
    crediteuren = next(ledger for ledger in ledgers if ledger.code == "1600")
    assert (crediteuren.id, crediteuren.name, crediteuren.category) == (
        str(eb.ledger_id("1600")),
        "Crediteuren",
        "CRED",
    )
    await soap.ledger_accounts()  # cached for the run
    assert calls(await seen(eb, soap), "GetGrootboekrekeningen") == [200]
    # Only winst-en-verlies accounts carry an invoice's revenue or costs: not 0100 Inventaris, not BTW.
    offered = {ledger.code for ledger in ledgers if ledger.tegenrekening}
    assert "0100" not in offered and "1500" not in offered and "1600" not in offered
    assert {"4600", "7000", "8000"} <= offered


async def test_vat_codes_are_the_soap_enum(soap: EBoekhoudenSoap) -> None:
    codes = {c.code: c for c in await soap.vat_codes()}
    assert {"HOOG_VERK_21", "LAAG_VERK_9", "AFW_VERK", "HOOG_VERK", "HOOG_INK", "GEEN"} <= set(codes)
    assert "VERL_INK_L" not in codes
    assert codes["HOOG_VERK"].rate == 19
    assert soap.default_vat_code(InvoiceKind.SALES, D(9), False) == "LAAG_VERK_9"
    assert soap.client.request_count == 0


async def test_cost_centers_are_the_active_kostenplaatsen(soap: EBoekhoudenSoap, eb: EBoekhoudenSim) -> None:
    centers = await soap.cost_centers()

    assert [(c.code, c.name) for c in centers] == [
        (str(kostenplaats(eb, name)), name)
        for name in ("Algemeen", "Advies", "Detachering", "Projecten Zuid")
    ]
    assert calls(await seen(eb, soap), "GetKostenplaatsen") == [200]


async def test_journals_are_none_because_e_boekhouden_books_by_soort(soap: EBoekhoudenSoap) -> None:
    assert await soap.journals() == []
    assert soap.client.request_count == 0


# --- relations ----------------------------------------------------------------------------------


async def test_new_relation_is_created_with_our_code(soap: EBoekhoudenSoap, eb: EBoekhoudenSim) -> None:
    relation_id = await soap.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")

    [created] = eb.relations
    assert str(created.id) == relation_id
    assert (created.code, created.type, created.name) == ("DEB0042", "B", "Bakkerij De Vries B.V.")
    assert (created.vat_number, created.coc_number, created.postal_code) == (
        "NL004495445B01",
        "12345678",
        "3421 AB",
    )
    assert created.email == "administratie@bakkerijdevries.nl"
    before = soap.client.request_count
    assert await soap.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042") == relation_id
    assert soap.client.request_count == before


async def test_existing_relation_is_found_by_vat_number(soap: EBoekhoudenSoap, eb: EBoekhoudenSim) -> None:
    existing = eb.add_relation("1007", "Bakkerij de Vries", vat_number="NL 0044.95.445.B01")
    assert await soap.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042") == str(existing.id)
    assert len(eb.relations) == 1


async def test_relation_created_by_this_run_is_found_for_a_new_code(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    # The same customer under another code later in the run: found by VAT number, not created twice.
    first = await soap.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    assert await soap.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0043") == first
    assert len(eb.relations) == 1


async def test_concurrent_calls_for_one_new_relation_create_it_once(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    ids = await asyncio.gather(
        *(soap.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042") for _ in range(3))
    )
    assert len(set(ids)) == 1
    assert [r.code for r in eb.relations] == ["DEB0042"]


async def test_relation_created_meanwhile_by_someone_else_is_adopted(
    url: str, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    eb.faults.add("latency", action="AddRelatie", ms=300, times=1)
    first, second = connect(url, sleeps), connect(url, sleeps)
    ids = await asyncio.gather(
        first.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042"),
        second.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042"),
    )
    await first.aclose()
    await second.aclose()

    assert ids[0] == ids[1] == str(eb.relations[0].id)
    assert len(eb.relations) == 1
    assert len(calls(await seen(eb, first, second), "AddRelatie")) == 2  # one of them got REL_049


# --- bookings -----------------------------------------------------------------------------------


async def test_sales_invoice_is_booked_as_factuur_verstuurd_on_debiteuren(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    entry = sales_invoice()
    result = await book(soap, entry)

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
    assert booked.amount == entry.total_gross == D("1599.70")
    assert booked.via == "soap"


async def test_purchase_invoice_is_booked_as_factuur_ontvangen_on_crediteuren(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    entry = purchase_invoice()
    await book(soap, entry, code="CRED0007")

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


async def test_credit_note_is_booked_with_negative_amounts(soap: EBoekhoudenSoap, eb: EBoekhoudenSim) -> None:
    entry = sales_invoice(
        "F2026-00021",
        credit_note=True,
        lines=(line("8000", "HOOG_VERK_21", "21", "-112.45", "-23.61", "Creditering retour taarten"),),
    )
    await book(soap, entry)

    booked = only_mutation(eb)
    assert booked.type == 2
    assert [(r.vat_code, r.amount, r.vat_amount) for r in booked.rows] == [
        ("HOOG_VERK_21", D("-112.45"), D("-23.61"))
    ]
    assert booked.amount == D("-136.06")


async def test_vat_cents_rounded_per_invoice_are_booked_as_afwijkend(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    entry = sales_invoice(
        "F2026-00022",
        lines=(
            line("8000", "HOOG_VERK_21", "21", "100.00", "21.00", "Taarten"),
            line("8000", "HOOG_VERK_21", "21", "10.04", "2.10", "Krentenbollen"),
        ),
    )
    await book(soap, entry)

    booked = only_mutation(eb)
    assert [(r.vat_code, r.amount, r.vat_amount) for r in booked.rows] == [
        ("HOOG_VERK_21", D("100.00"), D("21.00")),
        ("AFW_VERK", D("10.04"), D("2.10")),
    ]
    assert booked.total_vat == entry.total_vat == D("23.10")


async def test_foreign_currency_invoice_keeps_original_amount_and_ecb_rate_in_description(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    usd = ForeignAmount(currency="USD", gross=D("1633.50"), rate=D("1.0890"), rate_date=date(2026, 1, 20))
    entry = sales_invoice(
        "F2026-00024",
        lines=(line("8000", "HOOG_VERK_21", "21", "1239.67", "260.33", "Catering congres"),),
        foreign=usd,
    )
    await book(soap, entry)

    booked = only_mutation(eb)
    assert "USD 1633.50" in booked.description
    assert "ECB-koers 1.089" in booked.description
    assert booked.amount == D("1500.00")


async def test_cost_centre_of_a_line_lands_on_its_mutation_row(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    zuid = kostenplaats(eb, "Projecten Zuid")
    entry = purchase_invoice().model_copy(
        update={
            "lines": (
                line("7000", "LAAG_INK_9", "9", "412.35", "37.11", "Tarwebloem 25 kg x 15", str(zuid)),
                line("4300", "HOOG_INK_21", "21", "19.99", "4.20", "Bezorgkosten"),
            )
        }
    )
    await book(soap, entry, code="CRED0007")

    booked = only_mutation(eb)
    assert [(r.ledger_id, r.cost_center_id) for r in booked.rows] == [
        (eb.ledger_id("7000"), zuid),
        (eb.ledger_id("4300"), None),  # KostenplaatsID 0: none
    ]
    assert booked.via == "soap"


# --- never twice, never lost --------------------------------------------------------------------


async def test_posting_the_same_invoice_twice_books_it_once(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    first = await book(soap, sales_invoice())
    again = await book(soap, sales_invoice())

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
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    # Purchase invoice numbers are only unique per supplier.
    await book(soap, purchase_invoice("2026-001"), code="CRED0007")
    other = purchase_invoice("2026-001").model_copy(update={"relation": BAKKERIJ})
    result = await book(soap, other, code="CRED0042")
    assert not result.already_existed
    assert len(eb.mutations) == 2
    found = await soap.find_booking(other)
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
    assert len(calls(await seen(eb, earlier, run), "AddRelatie")) == 2  # looked up, never created


async def test_a_new_runs_reconcile_does_not_take_another_suppliers_booking_for_ours(
    url: str, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    earlier = connect(url, sleeps)
    await book(earlier, purchase_invoice("2026-001"), code="CRED0007")
    await earlier.ensure_relation(BAKKERIJ, InvoiceKind.PURCHASE, "CRED0042")
    await earlier.aclose()

    run = connect(url, sleeps)
    assert (
        await run.find_booking(purchase_invoice("2026-001").model_copy(update={"relation": BAKKERIJ})) is None
    )
    await run.aclose()


async def test_a_relation_found_by_vat_number_is_booked_under_its_own_code(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    existing = eb.add_relation("1007", "Bakkerij de Vries", vat_number="NL 0044.95.445.B01")
    result = await book(soap, sales_invoice(), code="DEB0042")
    assert only_mutation(eb).relation_id == existing.id
    found = await soap.find_booking(sales_invoice(), str(existing.id))
    assert found is not None and found.remote_id == result.remote_id


async def test_lost_response_on_create_is_uncertain_and_the_booking_is_found(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    entry = sales_invoice()
    relation_id = await soap.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    eb.faults.add("lost_response", action="AddMutatie", times=1)

    with pytest.raises(UncertainError):
        await soap.create_booking(entry, relation_id)
    found = await soap.find_booking(entry)

    booked = only_mutation(eb)
    assert found is not None
    assert (found.remote_id, found.invoice_number, found.gross) == (
        str(booked.id),
        "F2026-00013",
        D("1599.70"),
    )
    assert calls(await seen(eb, soap), "AddMutatie") == [200]


async def test_connection_reset_on_create_is_uncertain_and_nothing_is_found(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    entry = sales_invoice()
    relation_id = await soap.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    eb.faults.add("reset", action="AddMutatie", times=1)

    with pytest.raises(UncertainError):
        await soap.create_booking(entry, relation_id)
    assert await soap.find_booking(entry) is None
    assert eb.mutations == []
    assert calls(await seen(eb, soap), "AddMutatie") == [0]


async def test_timeout_on_create_is_uncertain(url: str, eb: EBoekhoudenSim, sleeps: Sleeps) -> None:
    connector = connect(url, sleeps, read=0.5)
    entry = sales_invoice()
    relation_id = await connector.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    eb.faults.add("timeout", action="AddMutatie", seconds=2, times=1)

    with pytest.raises(UncertainError):
        await connector.create_booking(entry, relation_id)
    assert await connector.find_booking(entry) is None
    await connector.aclose()


async def test_malformed_answer_on_create_is_uncertain_and_the_booking_is_found(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    entry = sales_invoice()
    relation_id = await soap.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    eb.faults.add("malformed", action="AddMutatie", times=1)

    with pytest.raises(UncertainError):
        await soap.create_booking(entry, relation_id)
    found = await soap.find_booking(entry)
    assert found is not None and found.remote_id == str(only_mutation(eb).id)


async def test_rate_limited_create_is_retried_once_after_retry_after(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    relation_id = await soap.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    eb.faults.add("status", action="AddMutatie", status=429, retry_after=3, times=1)

    result = await soap.create_booking(sales_invoice(), relation_id)

    assert result.remote_id == str(only_mutation(eb).id)
    assert calls(await seen(eb, soap), "AddMutatie") == [429, 200]
    assert sleeps.waits == [3.0]


async def test_server_error_on_a_read_is_retried(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    eb.faults.add("status", action="GetGrootboekrekeningen", status=500, times=1)
    assert len(await soap.ledger_accounts()) == 28
    assert calls(await seen(eb, soap), "GetGrootboekrekeningen") == [500, 200]
    assert len(sleeps.waits) == 1


async def test_malformed_answer_on_a_read_is_retried(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    eb.faults.add("malformed", action="GetAdministraties", times=1)
    assert len(await soap.administraties()) == 1
    assert len(calls(await seen(eb, soap), "GetAdministraties")) == 2
    assert len(sleeps.waits) == 1


async def test_server_error_on_create_is_uncertain_not_repeated(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    relation_id = await soap.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    eb.faults.add("status", action="AddMutatie", status=500, times=1)
    with pytest.raises(UncertainError):
        await soap.create_booking(sales_invoice(), relation_id)
    assert calls(await seen(eb, soap), "AddMutatie") == [500]


# --- refusals with Dutch advice -----------------------------------------------------------------


async def test_unknown_cost_centre_is_refused_by_e_boekhouden_with_mapping_advice(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    entry = sales_invoice(
        lines=(line("8000", "HOOG_VERK_21", "21", "100.00", "21.00", cost_center="411999"),)
    )
    with pytest.raises(RejectedError) as caught:
        await book(soap, entry)

    error = caught.value
    assert error.code == "MUT_113"
    assert "Cost center 411999 not found" in error.message  # the vendor's own words are kept
    assert error.advice == "Kies de kostenplaats opnieuw onder Mapping."
    assert error.origin is Origin.MAPPING
    assert eb.mutations == []
    assert calls(await seen(eb, soap), "AddMutatie") == [200]  # a business error in HTTP 200


async def test_cost_centre_that_is_no_e_boekhouden_id_is_refused_before_sending(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    entry = sales_invoice(
        lines=(line("8000", "HOOG_VERK_21", "21", "100.00", "21.00", cost_center="KP-ADVIES"),)
    )
    with pytest.raises(RejectedError) as caught:
        await book(soap, entry)

    assert caught.value.code == "COST_CENTER"
    assert caught.value.advice == "Kies de kostenplaats opnieuw onder Mapping."
    assert calls(await seen(eb, soap), "AddMutatie") == []


async def test_closed_period_is_rejected_with_vendor_code_and_advice(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    eb.close_period("2025-12-31")
    with pytest.raises(RejectedError) as caught:
        await book(soap, sales_invoice("F2025-00999", on=date(2025, 12, 15)))

    error = caught.value
    assert error.code == "MUT_005"
    assert "periode is afgesloten" in error.message
    assert "heropenen" in error.advice
    assert eb.mutations == []


async def test_unknown_ledger_is_rejected_with_mapping_advice(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim
) -> None:
    entry = sales_invoice(lines=(line("8999", "HOOG_VERK_21", "21", "100.00", "21.00"),))
    with pytest.raises(RejectedError) as caught:
        await book(soap, entry)

    error = caught.value
    assert error.code == "MUT_007"
    assert "8999" in error.message
    assert "tegenrekening in de mapping" in error.advice
    assert error.origin is Origin.MAPPING
    assert calls(await seen(eb, soap), "AddMutatie") == []


# --- secrets ------------------------------------------------------------------------------------


async def test_secrets_never_appear_in_errors_exchanges_or_reprs(
    url: str, eb: EBoekhoudenSim, sleeps: Sleeps
) -> None:
    sessions: set[str] = set()
    texts: list[str] = []

    def collect(error: ConnectorError) -> None:
        texts.extend([str(error), error.message, error.advice, error.exchange, repr(error)])

    wrong = connect(url, sleeps, code1=CODE1[::-1])
    result = await wrong.check()
    texts += [result.reason, result.advice, *wrong.client.exchanges, repr(wrong), repr(wrong.client)]
    await wrong.aclose()

    connector = connect(url, sleeps)
    assert (await connector.check()).ok
    sessions |= set(eb.sessions)
    relation_id = await connector.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "DEB0042")
    eb.expire_sessions()  # a second SessionID, learnt mid-run
    await connector.create_booking(sales_invoice(), relation_id)
    sessions |= set(eb.sessions)

    eb.close_period("2025-12-31")
    with pytest.raises(RejectedError) as rejected:
        await connector.create_booking(sales_invoice("F2025-00999", on=date(2025, 12, 15)), relation_id)
    collect(rejected.value)
    eb.faults.add("lost_response", action="AddMutatie", times=1)
    with pytest.raises(UncertainError) as uncertain:
        await connector.create_booking(sales_invoice("F2026-00030"), relation_id)
    collect(uncertain.value)
    eb.change_password(USER)
    with pytest.raises(AuthError) as auth:
        await connector.administraties()
    collect(auth.value)
    texts += [*connector.client.exchanges, repr(connector), repr(connector.client)]
    await connector.aclose()

    assert len(sessions) == 2
    everything = "\n".join(texts)
    assert "AddMutatie" in everything and "SessionID" in everything  # the scan saw real exchanges
    for secret in (CODE1, CODE1[::-1], CODE2, *sessions):
        assert secret not in everything
    assert MEELHANDEL.name not in everything  # (sanity: the scan is of this run only)


@pytest.mark.parametrize("payload", ["billion_laughs", "quadratic", "external_entity", "huge_xml"])
async def test_hostile_xml_is_refused_by_the_hardened_parser(
    soap: EBoekhoudenSoap, eb: EBoekhoudenSim, payload: str
) -> None:
    """A bomb, an external entity or a 10 MB answer is never expanded or read: a clear error instead."""
    eb.faults.add("hostile", action="GetAdministraties", payload=payload)
    with pytest.raises(ConnectorError) as caught:
        await soap.administraties()
    reason = "groter dan de grens" if payload == "huge_xml" else "DTD of entiteiten"
    assert reason in caught.value.message, caught.value.message
    assert "root:" not in caught.value.message  # /etc/passwd was not read
