"""Runs of the koppeling FactuurSturen → Exact Online through the real engine, over real HTTP against the
simulators, with the connection authorized the way `koppelaar connect` does it (tests/world.py).

One clock drives the Exact simulator, the token vault and Exact's rate governor (as in
tests/connectors/test_exact.py), so a test can move time: access tokens expire, refresh tokens age.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import connectors.exact.spec
import sync.service
from connectors.exact import ExactOnline
from sandbox.data import NL
from state.config import load_settings
from state.secrets import open_secret_store
from state.store import OutboxState
from state.tokens import TokenVault, vault_key
from sync.engine import Progress, RunStatus
from sync.status import KoppelingState, overview
from tests.world import EXACT_SALES_ENTRIES, World, sandbox_world

D = Decimal
NO_CHANGE_BUDGET = 2  # Exact requests of a run that finds nothing new (measured: 1, current/Me)


def share_clock(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    """The vault and the connector built by sync.service read the simulator's clock."""
    assert world.clock is not None
    monkeypatch.setattr(sync.service, "TokenVault", functools.partial(TokenVault, clock=world.clock))
    monkeypatch.setattr(
        connectors.exact.spec, "ExactOnline", functools.partial(ExactOnline, clock=world.clock)
    )


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with sandbox_world(tmp_path, target="exact") as w:
        share_clock(monkeypatch, w)
        yield w


def add_client(world: World, name: str = "Bakkerij De Vries B.V.") -> int:
    return world.fs.add_client(name, city="Utrecht", country=NL, taxnumber="NL004495445B01").clientnr


def entry_of(world: World, number: str) -> dict[str, object]:
    [entry] = [e for e in world.ex.sales_entries() if str(e["YourRef"]).strip() == number]
    return entry


def lines_of(entry: dict[str, object]) -> list[dict[str, object]]:
    lines = entry["SalesEntryLines"]
    assert isinstance(lines, dict)
    result: list[dict[str, object]] = lines["results"]
    return result


async def test_a_full_run_books_every_invoice_once_with_gl_account_vat_code_and_relation(
    world: World,
) -> None:
    client = add_client(world)
    # One cent: 0.50 at 9 % is 0.045 VAT; FactuurSturen rounds half up (0.05), half-even would give 0.04.
    cent = world.fs.add_invoice(
        client, [(1, "0.50", 9, "Koekje"), (3, "33.33", 21, "Visitekaartjes")], sent="2025-12-31"
    )

    report = await world.run()

    assert report.status is RunStatus.OK, report.problems
    booked = world.bookings_per_invoice()
    assert set(booked) == world.bookable_invoice_numbers()
    assert set(booked.values()) == {1}
    accounts = {str(a["ID"]): a for a in world.ex.accounts()}
    for invoice in world.fs.invoices:
        if not invoice.lines:
            continue
        entry = entry_of(world, invoice.invoicenr_full)
        assert entry["Journal"] == "70"
        assert str(accounts[str(entry["Customer"])]["SearchCode"]).strip() == f"FS{invoice.clientnr}"
        rates = {line.tax_rate for line in invoice.lines}
        for line in lines_of(entry):
            vat_code = str(line["VATCode"]).strip()
            expected = {"2": ("8000", 21), "4": ("8010", 9), "0": ("8100", 0), "5": ("8100", 0)}[vat_code]
            assert line["GLAccountCode"] == expected[0], (invoice.invoicenr_full, line)
            assert expected[1] in rates
            if vat_code == "5":
                assert invoice.tax_shifted
        if invoice.currency is None:  # in euros: the entry equals the invoice to the cent
            assert sum((D(str(ln["AmountFC"])) for ln in lines_of(entry)), D(0)) == invoice.subtotal
            assert sum((D(str(ln["VATAmountFC"])) for ln in lines_of(entry)), D(0)) == invoice.tax
            assert D(str(entry["AmountDC"])) == invoice.totalintax
    cent_lines = {str(ln["VATCode"]).strip(): ln for ln in lines_of(entry_of(world, cent.invoicenr_full))}
    assert D(str(cent_lines["4"]["VATAmountFC"])) == D("0.05")
    assert D(str(cent_lines["2"]["VATAmountFC"])) == D("21.00")  # 99.99 × 21 % = 20.9979


async def test_a_second_run_books_nothing_within_the_request_budget(world: World) -> None:
    await world.run()
    before_fs, before_ex, entries = world.fs.request_count(), world.ex.request_count(), world.booking_count()

    report = await world.run()

    assert report.status is RunStatus.OK
    assert report.progress.booked == 0
    assert world.booking_count() == entries
    fs_requests, ex_requests = world.fs.request_count() - before_fs, world.ex.request_count() - before_ex
    print(f"no-change run: FactuurSturen {fs_requests}, Exact {ex_requests} requests")
    assert fs_requests <= 2
    assert ex_requests <= NO_CHANGE_BUDGET


async def test_an_access_token_that_expires_mid_run_is_refreshed_and_the_run_continues(world: World) -> None:
    clock = world.clock
    assert clock is not None
    moved: list[int] = []

    def expire_once(p: Progress) -> None:
        if p.booked >= 5 and not moved:
            moved.append(p.booked)
            clock.advance(601)  # Exact's access token lives 600 s

    report = await world.run(on_progress=expire_once)

    assert moved, "the clock was never moved"
    assert report.status is RunStatus.OK, report.problems
    assert world.ex.refreshes("ok") == 1
    assert set(world.bookings_per_invoice()) == world.bookable_invoice_numbers()
    assert set(world.bookings_per_invoice().values()) == {1}


@pytest.mark.parametrize("how", ["expired", "revoked"])
async def test_a_dead_refresh_token_fails_the_run_with_herautorisatie_nodig(world: World, how: str) -> None:
    assert world.clock is not None
    await world.run()
    client = add_client(world)
    world.fs.add_invoice(client, [(1, "10.00", 21, "Brood")], sent="2026-01-05")
    if how == "expired":
        world.clock.advance(31 * 86400)  # unused for 31 days: Exact's refresh token is gone
    else:
        world.ex.revoke_all()  # the user withdrew the app's access in Exact
        world.clock.advance(601)
    entries = world.booking_count()

    report = await world.run()

    assert report.status is RunStatus.FAILED
    assert "Herautorisatie nodig" in report.message
    assert world.booking_count() == entries
    settings = load_settings(world.home.config)
    secrets = open_secret_store(settings.app, world.home.root)
    [status] = overview(settings, world.store(), secrets)
    assert status.state is KoppelingState.HERAUTORISATIE
    vault = TokenVault(world.home.database, vault_key(secrets))
    token = vault.status("boekhouding")
    vault.close()
    assert token is not None and token.state == "needs_reauth"
    token_requests = len(world.ex.token_requests)
    again = await world.run()  # no new token requests: it fails at once until someone re-authorizes
    assert "Herautorisatie nodig" in again.message
    assert len(world.ex.token_requests) == token_requests


def test_rate_limit_headers_are_respected_without_a_429_storm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    with sandbox_world(tmp_path, target="exact", exact_minutely_limit=40) as world:
        share_clock(monkeypatch, world)
        assert world.clock is not None
        # Start 2 s before a (simulated) minute ends, so the first window is short and the test quick.
        world.clock.advance(60 - time.time() % 60 - 2)
        started = time.monotonic()

        report = asyncio.run(world.run())

        elapsed = time.monotonic() - started
        statuses = [r.status for r in world.ex.request_log]
        print(
            f"Exact: {len(statuses)} requests, {statuses.count(429)} × 429, minutely limit 40, {elapsed:.1f} s"
        )
        assert report.status is RunStatus.OK, report.problems
        assert len(statuses) > 40  # the run needed more than one window
        assert statuses.count(429) <= 4  # at most what was in flight when the window ran out
        assert world.ex.blocked == []
        assert set(world.bookings_per_invoice().values()) == {1}
        assert set(world.bookings_per_invoice()) == world.bookable_invoice_numbers()


async def test_a_refused_entry_becomes_a_foutmelding_with_exacts_message_and_the_rest_is_booked(
    world: World,
) -> None:
    world.ex.faults.add(method="POST", path=EXACT_SALES_ENTRIES, kind="status", status=400, times=1)

    report = await world.run()

    assert report.status is RunStatus.PARTIAL
    store = world.store()
    assert store.outbox_counts("facturen").get(OutboxState.FAILED) == 1
    assert len(world.bookings_per_invoice()) == len(world.bookable_invoice_numbers()) - 1
