"""Runs of the koppeling FactuurSturen → Twinfield through the real engine, over real HTTP against the
simulators, with the connection authorized the way `koppelaar connect` does it (tests/world.py).

The engine books Twinfield in batches (`create_bookings`: up to 25 transactions per ProcessXml call).
One clock drives the Twinfield simulator and the token vault, so a test can let access tokens expire.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import sync.service
from sandbox.data import NL
from sandbox.twinfield import Transaction
from state.config import ConfigFile, load_settings
from state.secrets import open_secret_store
from state.store import OutboxState
from state.tokens import TokenVault
from sync.engine import Progress, RunStatus
from sync.status import KoppelingState, overview
from tests.world import TWINFIELD_PROCESSXML, World, sandbox_world

D = Decimal
NO_CHANGE_BUDGET = 4  # Twinfield requests of a run that finds nothing new (measured: 3)


def share_clock(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    assert world.clock is not None
    monkeypatch.setattr(sync.service, "TokenVault", functools.partial(TokenVault, clock=world.clock))


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with sandbox_world(tmp_path, target="twinfield") as w:
        share_clock(monkeypatch, w)
        yield w


def add_client(world: World, name: str = "Bakkerij De Vries B.V.") -> int:
    return world.fs.add_client(name, city="Utrecht", country=NL, taxnumber="NL004495445B01").clientnr


def transaction_of(world: World, number: str) -> Transaction:
    [found] = [t for t in world.twf.transactions() if t.invoicenumber == number]
    return found


def process_calls(world: World) -> int:
    return world.twf.request_count(path_prefix=TWINFIELD_PROCESSXML)


async def test_a_full_run_books_every_invoice_once_in_batches_with_gl_account_vat_code_and_relation(
    world: World,
) -> None:
    client = add_client(world)
    # One cent: 0.50 at 9 % is 0.045 VAT; FactuurSturen rounds half up (0.05), Twinfield half-even (0.04).
    cent = world.fs.add_invoice(
        client, [(1, "0.50", 9, "Koekje"), (3, "33.33", 21, "Visitekaartjes")], sent="2025-12-31"
    )

    report = await world.run()

    assert report.status is RunStatus.OK, report.problems
    booked = world.bookings_per_invoice()
    assert set(booked) == world.bookable_invoice_numbers()
    assert set(booked.values()) == {1}
    debtors = {
        code: dim
        for code, dim in world.twf.organisations["DEMO-ORG"].offices["001"].dimensions["DEB"].items()
    }
    for invoice in world.fs.invoices:
        if not invoice.lines:
            continue
        t = transaction_of(world, invoice.invoicenr_full)
        assert t.code == "VRK"
        [total] = [ln for ln in t.lines if ln.type == "total"]
        assert total.dim1 == "1300" and debtors[total.dim2].shortname == f"FS{invoice.clientnr}"
        for ln in t.lines:
            if ln.type == "detail":
                expected = {"VH": "8000", "VL": "8010", "VN": "8100"}[ln.vatcode]
                assert ln.dim1 == expected, (invoice.invoicenr_full, ln)
        if invoice.currency is None:  # in euros: the transaction equals the invoice to the cent
            net = -sum((ln.signed for ln in t.lines if ln.type == "detail"), D(0))
            vat = -sum((ln.signed for ln in t.lines if ln.type == "vat"), D(0))
            assert (net, vat, total.signed) == (invoice.subtotal, invoice.tax, invoice.totalintax)
    vat_lines = {
        ln.vatcode: ln.value for ln in transaction_of(world, cent.invoicenr_full).lines if ln.type == "vat"
    }
    assert vat_lines["VL"] == D("0.05") and vat_lines["VH"] == D("21.00")
    posts = len(world.bookable_invoice_numbers())
    assert process_calls(world) < posts, "batched: fewer ProcessXml calls than transactions"


async def test_a_second_run_books_nothing_within_the_request_budget(world: World) -> None:
    await world.run()
    before_fs, before_twf, count = world.fs.request_count(), world.twf.request_count(), world.booking_count()

    report = await world.run()

    assert report.status is RunStatus.OK
    assert report.progress.booked == 0
    assert world.booking_count() == count
    fs_requests, twf_requests = world.fs.request_count() - before_fs, world.twf.request_count() - before_twf
    print(f"no-change run: FactuurSturen {fs_requests}, Twinfield {twf_requests} requests")
    assert fs_requests <= 2
    assert twf_requests <= NO_CHANGE_BUDGET


async def test_an_access_token_that_expires_mid_run_is_refreshed_and_the_run_continues(world: World) -> None:
    clock = world.clock
    assert clock is not None
    moved: list[int] = []

    def expire_once(p: Progress) -> None:
        if p.booked >= 1 and not moved:
            moved.append(p.booked)
            clock.advance(3601)  # Twinfield's access token lives an hour

    report = await world.run(on_progress=expire_once)

    assert moved, "the clock was never moved"
    assert report.status is RunStatus.OK, report.problems
    assert set(world.bookings_per_invoice()) == world.bookable_invoice_numbers()
    assert set(world.bookings_per_invoice().values()) == {1}


async def test_an_access_token_refused_before_its_expiry_is_refreshed_at_once(world: World) -> None:
    refused: list[int] = []

    def refuse_once(p: Progress) -> None:
        if p.booked >= 1 and not refused:
            refused.append(p.booked)
            world.twf.expire_access_tokens()

    report = await world.run(on_progress=refuse_once)

    assert report.status is RunStatus.OK, report.problems


async def test_a_revoked_consent_fails_the_run_with_herautorisatie_nodig(world: World) -> None:
    assert world.clock is not None
    await world.run()
    world.fs.add_invoice(add_client(world), [(1, "10.00", 21, "Brood")], sent="2026-01-05")
    for grant in world.twf.refresh_tokens.values():
        grant.revoked = True  # the user withdrew the consent in Twinfield
    world.clock.advance(3601)
    count = world.booking_count()

    report = await world.run()

    assert report.status is RunStatus.FAILED
    assert "Herautorisatie nodig" in report.message
    assert world.booking_count() == count
    settings = load_settings(world.home.config)
    [status] = overview(settings, world.store(), open_secret_store(settings.app, world.home.root))
    assert status.state is KoppelingState.HERAUTORISATIE


async def test_refused_transactions_become_foutmeldingen_with_twinfields_message_and_the_rest_is_booked(
    world: World,
) -> None:
    # 8020 is no ledger account in this office: Twinfield refuses every transaction with a 9 % line,
    # each within a batch whose other transactions are booked.
    config = ConfigFile.open(world.home.config)
    config.set(("koppelingen", "facturen", "mapping", "tegenrekening", "verkoop:9"), "8020")
    config.save()
    refused = {inv.invoicenr_full for inv in world.fs.invoices if any(ln.tax_rate == 9 for ln in inv.lines)}
    assert 0 < len(refused) < len(world.bookable_invoice_numbers())

    report = await world.run()

    assert report.status is RunStatus.PARTIAL
    assert set(world.bookings_per_invoice()) == world.bookable_invoice_numbers() - refused
    assert set(world.bookings_per_invoice().values()) == {1}
    store = world.store()
    assert store.outbox_counts("facturen").get(OutboxState.FAILED) == len(refused)
    problems = store.foutmeldingen("facturen")
    assert problems and all("Dimensie 8020 bestaat niet" in p.title for p in problems)
    assert {ref for p in problems for ref, _, _ in store.problem_records(p.id)} == {
        f"factuursturen:{inv.id}" for inv in world.fs.invoices if inv.invoicenr_full in refused
    }
    assert "grootboekrekening" in problems[0].advice
