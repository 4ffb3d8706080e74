"""What every booking target promises (connectors/contract.py), tried against each vendor's simulator
over real HTTP: refused credentials, directory paging, relation resolution and the lookup by reference
that keeps a booking from being made twice. Assertions read the simulator's own state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.contract import Health
from connectors.model import BookingLine, InvoiceKind, JournalEntry, Party
from tests.contract.conftest import TargetVendor, target_params
from tests.world import World

D = Decimal

BAKKERIJ = Party(
    source_id="42",
    name="Bakkerij De Vries B.V.",
    vat_number="NL004495445B01",
    address="Dorpsstraat 12",
    postal_code="3421 AB",
    city="Oudewater",
)
MOLENAAR = Party(source_id="7", name="Meelhandel Molenaar B.V.", vat_number="NL810433941B01", city="Zaandam")
JANSEN = Party(source_id="8", name="Drukkerij Jansen", vat_number="NL001234567B01", city="Gouda")


@pytest.fixture
def world(vendor: TargetVendor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with vendor.world(tmp_path, monkeypatch, invoices=0) as w:
        yield w


def invoice(
    vendor: TargetVendor, number: str, party: Party, net: str, kind: InvoiceKind = InvoiceKind.SALES
) -> JournalEntry:
    booked = vendor.sales_line if kind is InvoiceKind.SALES else vendor.purchase_line
    net_amount = D(net)
    line = BookingLine(
        account_code=booked.account,
        vat_code=booked.vat_code,
        vat_rate=D(21),
        net_amount=net_amount,
        vat_amount=(net_amount * D("0.21")).quantize(D("0.01")),
        description="Tarwebloem 25 kg" if kind is InvoiceKind.PURCHASE else "Broodjes en gebak",
    )
    return JournalEntry(
        reference=f"factuursturen:{party.source_id}:{number}",
        kind=kind,
        date=date(2026, 1, 14),
        due_date=date(2026, 2, 13),
        invoice_number=number,
        description=f"Factuur {number} {party.name}",
        relation=party,
        lines=(line,),
    )


# --- auth failure -------------------------------------------------------------------------------------


async def test_withdrawn_access_is_auth_failed_with_a_reason(vendor: TargetVendor, world: World) -> None:
    async with vendor.connector(world) as target:
        assert (await target.check()).ok
    vendor.revoke(world)

    async with vendor.connector(world) as target:
        result = await target.check()

    assert result.health is Health.AUTH_FAILED, result
    assert result.reason.strip() and result.advice.strip()


# --- paging -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vendor", [p for p in target_params() if p.values[0].pages_ledger_accounts], indirect=True
)
async def test_a_grootboek_longer_than_a_page_comes_back_whole(vendor: TargetVendor, world: World) -> None:
    vendor.add_ledger_accounts(world, 600)
    expected = vendor.ledger_codes(world)

    async with vendor.connector(world) as target:
        accounts = await target.ledger_accounts()

    codes = [a.code for a in accounts]
    assert len(codes) == len(set(codes))
    assert set(codes) == expected
    assert len(expected) > 100  # more than any vendor's page


# --- relation resolution ------------------------------------------------------------------------------


async def test_an_existing_relation_is_found_by_our_code(vendor: TargetVendor, world: World) -> None:
    existing = vendor.add_relation(world, "FS42", "De Vries (oud)")

    async with vendor.connector(world) as target:
        assert await target.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42") == existing

    assert [r.id for r in vendor.relations(world)] == [existing]


@pytest.mark.parametrize(
    "vendor",
    target_params(
        (
            "twinfield",
            "Twinfield's dimension list has no VAT number (it is in each dimension's address): a relation "
            "is matched by code or name only, as reading every dimension costs a request each",
        ),
        (
            "eboekhouden-rest",
            "e-Boekhouden's OpenAPI has no VAT-number filter on GET /v1/relation and its list items carry "
            "only id, type and code: a relation is matched by code or name only",
        ),
    ),
    indirect=True,
)
async def test_an_existing_relation_is_found_by_vat_number(vendor: TargetVendor, world: World) -> None:
    existing = vendor.add_relation(world, "1007", "Bakkerij de Vries", vat_number=BAKKERIJ.vat_number)

    async with vendor.connector(world) as target:
        assert await target.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42") == existing

    assert [r.id for r in vendor.relations(world)] == [existing]


async def test_an_existing_relation_is_found_by_its_exact_name(vendor: TargetVendor, world: World) -> None:
    vendor.add_relation(world, "1006", "Bakkerij De Vries Utrecht B.V.")  # similar is not the same
    existing = vendor.add_relation(world, "1007", "Bakkerij De Vries B.V.")
    unnumbered = BAKKERIJ.model_copy(update={"vat_number": ""})

    async with vendor.connector(world) as target:
        assert await target.ensure_relation(unnumbered, InvoiceKind.SALES, "FS42") == existing

    assert len(vendor.relations(world)) == 2


async def test_an_unknown_relation_is_created_once_with_our_code(vendor: TargetVendor, world: World) -> None:
    # One at a time: the engine holds a lock per relation code (tests/contract/test_runs.py).
    async with vendor.connector(world) as target:
        first = await target.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
        cached = await target.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
    async with vendor.connector(world) as later_run:
        again = await later_run.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")

    [created] = vendor.relations(world)
    assert first == cached == again == created.id
    assert (created.code, created.name) == ("FS42", BAKKERIJ.name)


# --- duplicate lookup ---------------------------------------------------------------------------------


async def test_find_booking_finds_ours_by_reference(vendor: TargetVendor, world: World) -> None:
    ours = invoice(vendor, "F2026-00013", BAKKERIJ, "1250.00")
    async with vendor.connector(world) as target:
        relation = await target.ensure_relation(BAKKERIJ, InvoiceKind.SALES, "FS42")
        booked = await target.create_booking(ours, relation)

    async with vendor.connector(world) as next_run:  # the reconcile at the start of a run: nothing cached
        found = await next_run.find_booking(ours)
        missing = await next_run.find_booking(invoice(vendor, "F2026-00014", BAKKERIJ, "1250.00"))

    assert vendor.bookings(world) == {"F2026-00013": 1}
    assert found is not None
    assert (found.remote_id, found.invoice_number) == (booked.remote_id, "F2026-00013")
    assert found.gross in (None, D("1512.50"))
    assert missing is None


@pytest.mark.parametrize(
    "vendor",
    target_params(),
    indirect=True,
)
async def test_find_booking_tells_two_suppliers_invoices_with_one_number_apart(
    vendor: TargetVendor, world: World
) -> None:
    # Purchase invoice numbers are unique per supplier only.
    molenaar = invoice(vendor, "2026-001", MOLENAAR, "100.00", InvoiceKind.PURCHASE)
    jansen = invoice(vendor, "2026-001", JANSEN, "200.00", InvoiceKind.PURCHASE)
    # Both relations exist (a run resolves the relation before a row may be sent); Molenaar's is booked.
    async with vendor.connector(world) as target:
        await target.ensure_relation(JANSEN, InvoiceKind.PURCHASE, "FS8")
        relation = await target.ensure_relation(MOLENAAR, InvoiceKind.PURCHASE, "FS7")
        first = await target.create_booking(molenaar, relation)

    async with vendor.connector(world) as next_run:  # the reconcile at the start of a run: nothing cached
        assert await next_run.find_booking(jansen) is None  # Molenaar's 2026-001 is not Jansen's
        relation = await next_run.ensure_relation(JANSEN, InvoiceKind.PURCHASE, "FS8")
        second = await next_run.create_booking(jansen, relation)

    async with vendor.connector(world) as third_run:
        found_molenaar = await third_run.find_booking(molenaar)
        found_jansen = await third_run.find_booking(jansen)

    assert vendor.bookings(world) == {"2026-001": 2}
    assert not second.already_existed and second.remote_id != first.remote_id
    assert found_molenaar is not None and found_molenaar.remote_id == first.remote_id
    assert found_jansen is not None and found_jansen.remote_id == second.remote_id
