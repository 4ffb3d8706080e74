"""The Foutmeldingen tab as support staff use it: the real console (run_test) over a sandbox world.

The shared `world` (tests/tui/conftest.py) has one invoice parked for an unmapped 7% VAT rate."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static, TabbedContent

from bench.foutmeldingen_latency import seed_foutmeldingen
from sandbox.data import NL
from tests.tui.conftest import SIZE, AppFactory, new_app, screen_text, wait_until
from tests.world import World, sandbox_world
from tui.app import KoppelaarApp
from tui.screens.confirm import ConfirmScreen
from tui.screens.koppeling import KoppelingScreen
from tui.widgets.foutmeldingen_tab import WINDOW, FoutmeldingenTab, ProblemScreen


async def park_invoice_at(world: World, rate: int) -> str:
    """One more invoice with a VAT rate the mapping has no code for: the next run parks it."""
    client = world.fs.add_client("Reclamebureau Zonneveld", city="Zwolle", country=NL).clientnr
    invoice = world.fs.add_invoice(client, [(1, "180.00", rate, "Ontwerp flyer")], sent="2026-01-21")
    await world.run()
    return invoice.invoicenr_full


def parked_number(world: World) -> str:
    """The conftest world's parked invoice (7%, Drukkerij Van Dam B.V.)."""
    store = world.store()
    [problem] = store.foutmeldingen("facturen")
    [(_reference, detail, _exchange)] = store.problem_records(problem.id)
    store.close()
    return detail.removeprefix("factuur ")


async def settle(pilot: Pilot[Any]) -> None:
    """Until no window, status change, retry or drill-down load is under way (bounded, never a sleep)."""
    groups = {"fm-load", "fm-status", "fm-retry", "fm-records"}
    await pilot.pause()
    await wait_until(
        pilot,
        lambda: not any(w.group in groups and not w.is_finished for w in pilot.app.workers),
        "the foutmeldingen work to finish",
    )
    await pilot.pause()


async def open_tab(pilot: Pilot[Any]) -> FoutmeldingenTab:
    """From the overview: Enter on the koppeling, then 2 (the Foutmeldingen tab)."""
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("2")
    await settle(pilot)
    return pilot.app.screen.query_one(FoutmeldingenTab)


def text_of(app: KoppelaarApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def titles(tab: FoutmeldingenTab) -> list[str]:
    table = tab.query_one("#fm-table", DataTable)
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


def notices(app: KoppelaarApp) -> str:
    return "\n".join(n.message for n in app._notifications)


SEVEN = "Onbekend btw-tarief 7% op verkoopfacturen"


async def test_a_parked_unknown_vat_rate_shows_as_an_open_foutmelding_with_what_to_do(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        tab = await open_tab(pilot)

        assert titles(tab) == [SEVEN]
        row = tab.query_one("#fm-table", DataTable).get_row_at(0)
        assert [str(cell) for cell in (row[0], row[2], row[4])] == ["mapping", "1", "open"]
        screen = screen_text(app)
        assert "Foutmeldingen (1)" in screen and "1–1 van 1" in screen
        assert "Wat te doen: Kies onder Mapping een btw-code voor 'verkoop:7'" in screen
        assert "mapping · eerst gezien" in screen


async def test_enter_shows_the_records_behind_a_foutmelding(world: World, make_app: AppFactory) -> None:
    number = parked_number(world)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot)
        await pilot.press("enter")
        await settle(pilot)

        assert isinstance(app.screen, ProblemScreen)
        records = app.screen.query_one("#fm-records", DataTable)
        assert records.row_count == 1
        screen = screen_text(app)
        assert SEVEN in screen and f"factuur {number}" in screen and "Verzoek en antwoord" in screen
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, KoppelingScreen)


async def test_the_filter_narrows_the_list_as_you_type(world: World, make_app: AppFactory) -> None:
    await park_invoice_at(world, 12)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        tab = await open_tab(pilot)
        assert sorted(titles(tab)) == ["Onbekend btw-tarief 12% op verkoopfacturen", SEVEN]

        await pilot.press("slash", "1", "2")
        await settle(pilot)
        assert titles(tab) == ["Onbekend btw-tarief 12% op verkoopfacturen"]
        assert "filter: '12'" in screen_text(app)

        await pilot.press("[")  # markup characters are searched for, never parsed
        await settle(pilot)
        assert titles(tab) == []
        assert "Geen foutmeldingen die '12[' bevatten." in screen_text(app)

        await pilot.press("escape")
        await settle(pilot)
        assert len(titles(tab)) == 2 and tab.query_one("#fm-table").has_focus


async def test_retry_after_fixing_the_mapping_books_the_invoice_and_resolves_the_foutmelding(
    world: World, make_app: AppFactory
) -> None:
    number = parked_number(world)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        tab = await open_tab(pilot)
        app.workspace.save_mapping("facturen", ("btw_codes", "verkoop:7"), "AFW_VERK")

        await pilot.press("o")
        await wait_until(pilot, lambda: "Opgelost: 1 record(s) geboekt" in notices(app), "the retry's result")
        await settle(pilot)

        [booking] = [m for m in world.eb.mutations if m.invoice_number == number]
        assert [row.vat_code for row in booking.rows] == ["AFW_VERK"]
        store = world.store()
        assert [p.status for p in store.foutmeldingen("facturen", status=None)] == ["resolved"]
        store.close()
        assert titles(tab) == []
        screen = screen_text(app)
        assert "Geen foutmeldingen." in screen and "Foutmeldingen (1)" not in screen


async def test_ignoring_asks_first_and_moves_the_foutmelding_out_of_the_open_view(
    world: World, make_app: AppFactory
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        tab = await open_tab(pilot)
        store = world.store()

        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen) and "Foutmelding negeren?" in screen_text(app)
        await pilot.press("n")  # no: nothing changes
        await settle(pilot)
        assert [p.status for p in store.foutmeldingen("facturen", status=None)] == ["open"]

        await pilot.press("i")
        await settle(pilot)
        await pilot.press("j")
        await settle(pilot)
        assert [p.status for p in store.foutmeldingen("facturen", status=None)] == ["ignored"]
        assert titles(tab) == []

        await pilot.press("s")  # the status filter: genegeerd
        await settle(pilot)
        assert titles(tab) == [SEVEN]
        assert "Status: genegeerd" in screen_text(app)
        assert any(row[2] == "foutmelding ignored" for row in store.audit_log())
        store.close()


async def test_read_only_refuses_retry_ignore_and_resolve_but_shows_everything(
    world: World, make_app: AppFactory
) -> None:
    store = world.store()
    runs_before = len(store.runs("facturen"))
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        tab = await open_tab(pilot)
        assert titles(tab) == [SEVEN]

        for key in ("o", "i", "m"):
            await pilot.press(key)
            await settle(pilot)
            assert not isinstance(app.screen, ConfirmScreen)

        assert notices(app).count("Alleen-lezen") == 3
        assert [p.status for p in store.foutmeldingen("facturen", status=None)] == ["open"]
        assert len(store.runs("facturen")) == runs_before

        await pilot.press("enter")  # looking is allowed
        await settle(pilot)
        assert isinstance(app.screen, ProblemScreen)
    store.close()


@pytest.fixture(scope="module")
def crowded_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A koppelaar.db with 100,000 foutmeldingen (80,000 open), inserted straight into the store."""
    database = tmp_path_factory.mktemp("crowded") / "koppelaar.db"
    seed_foutmeldingen(database, "facturen", 100_000)
    return database


@pytest.fixture
def crowded(tmp_path: Path, crowded_database: Path) -> Iterator[World]:
    with sandbox_world(tmp_path, api="rest", invoices=0) as w:
        shutil.copyfile(crowded_database, w.home.database)
        yield w


async def test_100000_foutmeldingen_open_and_filter_one_window_at_a_time(crowded: World) -> None:
    app = new_app(crowded)
    async with app.run_test(size=SIZE) as pilot:
        tab = await open_tab(pilot)
        table = tab.query_one("#fm-table", DataTable)

        assert table.row_count == WINDOW
        assert "1–200 van 80.000" in text_of(app, "#fm-summary")
        assert "Foutmeldingen (80.000)" in str(
            app.screen.query_one(TabbedContent).get_tab("foutmeldingen").label
        )

        # The cursor at the end of the window slides it: still one window, on the same problem.
        table.move_cursor(row=table.row_count - 1)
        await settle(pilot)
        assert table.row_count == WINDOW
        assert "101–300 van 80.000" in text_of(app, "#fm-summary")
        assert table.cursor_row == WINDOW - 101
        assert tab.selected() == tab.rows[WINDOW - 101]

        await pilot.press("slash", *"F2025-0012")
        await settle(pilot)
        assert 0 < table.row_count <= WINDOW
        assert all("F2025-0012" in t for t in titles(tab))
        assert f"1–{table.row_count} van {table.row_count}" in text_of(app, "#fm-summary")


async def test_a_record_exchange_with_markup_characters_is_shown_as_text(crowded: World) -> None:
    app = new_app(crowded)
    async with app.run_test(size=SIZE) as pilot:
        tab = await open_tab(pilot)
        await pilot.press("slash", *"00004 [", "enter")
        await settle(pilot)
        [title] = titles(tab)
        assert title.startswith("Onverwachte fout bij factuur F2025-00004 [")
        await pilot.press("enter")
        await settle(pilot)

        assert isinstance(app.screen, ProblemScreen)
        exchange = text_of(app, "#fm-exchange")
        assert "POST /v1/mutation" in exchange and "F2025-00004 [" in exchange


async def test_ctrl_end_jumps_to_the_oldest_foutmeldingen(crowded: World) -> None:
    app = new_app(crowded)
    async with app.run_test(size=SIZE) as pilot:
        tab = await open_tab(pilot)
        await pilot.press("ctrl+end")
        await settle(pilot)

        table = tab.query_one("#fm-table", DataTable)
        assert table.row_count == WINDOW
        assert "79.801–80.000 van 80.000" in text_of(app, "#fm-summary")
        assert tab.selected() == tab.rows[-1]
        assert tab.rows[-1].first_seen.startswith("2025-01-01")  # the first problem ever seen
