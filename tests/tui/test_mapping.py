"""The Mapping tab as an admin uses it after a night with a parked invoice: the live chart of accounts,
kostenplaatsen and dagboeken of the sandbox e-Boekhouden (or Exact Online) over real HTTP, choices written
into koppelaar.toml with its comments and booked by the next run, the value the parked invoice waits for
highlighted, and read-only support staff who can look but not change."""

from __future__ import annotations

import json
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from state.store import Store
from tests.tui.conftest import (
    AppFactory,
    new_app,
    screen_text,
    wait_for_text,
    wait_for_words,
    wait_until,
)
from tests.world import World, sandbox_world
from tui.app import KoppelaarApp
from tui.screens.confirm import ConfirmScreen
from tui.widgets.mapping_tab import MappingPicker, MappingTab

BLOCK_COMMENT = "# Tegenrekeningen afgestemd met de accountant (januari 2026), niet zonder overleg wijzigen\n"
INLINE_COMMENT = "# inkoop: handelsgoederen, tot de nieuwe rekening er is"


def prepare_file(world: World) -> str:
    """koppelaar.toml as an admin left it: comments, and 9% temporarily on 8000 (Omzet hoog)."""
    text = world.home.config.read_text()
    text = text.replace(
        "[koppelingen.facturen.mapping]\n", BLOCK_COMMENT + "[koppelingen.facturen.mapping]\n"
    )
    text = text.replace('tegenrekening_inkoop = "7000"', f'tegenrekening_inkoop = "7000"  {INLINE_COMMENT}')
    text = text.replace('"verkoop:9" = "8010"', '"verkoop:9" = "8000"')
    world.home.config.write_text(text)
    return text


def mapping_in_file(world: World) -> dict[str, Any]:
    mapping: dict[str, Any] = tomllib.loads(world.home.config.read_text())["koppelingen"]["facturen"][
        "mapping"
    ]
    return mapping


def audit(world: World) -> list[tuple[str, str, str, str, str]]:
    store = Store(world.home.database)
    try:
        return store.audit_log(20)
    finally:
        store.close()


def tab(app: KoppelaarApp) -> MappingTab:
    return app.screen.query_one(MappingTab)


async def open_mapping(app: KoppelaarApp, pilot: Pilot[None], *, loaded: bool = True) -> MappingTab:
    """Overzicht → Enter on the koppeling → 3 (Mapping); wait for the live list (or its error)."""
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    await pilot.press("3")
    await wait_until(pilot, lambda: app.screen.query(MappingTab), "the Mapping tab")
    mapping = tab(app)
    if loaded:
        await wait_until(pilot, lambda: mapping.directory is not None, "the live ledger accounts")
    else:
        await wait_until(pilot, lambda: bool(mapping.directory_error), "the directory error")
    await pilot.pause()
    return mapping


async def go_to(pilot: Pilot[None], text: str) -> None:
    """`/`, type, Enter: the list shows the matching source values with the cursor on the first."""
    await pilot.press("slash")
    for char in text:
        await pilot.press(char if char != " " else "space")
    await pilot.press("enter")
    await pilot.pause()


def cursor_row(app: KoppelaarApp) -> str | None:
    table = app.screen.query_one("#mapping-table", DataTable)
    return table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value


def doel(app: KoppelaarApp, row: str) -> str:
    """What the Doel column shows for a source value."""
    cell = app.screen.query_one("#mapping-table", DataTable).get_row(row)[3]
    assert isinstance(cell, Text)
    return cell.plain


async def pick(app: KoppelaarApp, pilot: Pilot[None], search: str) -> MappingPicker:
    """Enter on the row opens the picker; type to search (the choice is not confirmed yet)."""
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, MappingPicker), "the picker")
    picker = app.screen
    assert isinstance(picker, MappingPicker)
    for char in search:
        await pilot.press(char if char != " " else "space")
    await pilot.pause()
    return picker


@pytest.fixture
async def exact(tmp_path: Path) -> AsyncIterator[World]:
    """Koppeling 'facturen' (FactuurSturen → Exact Online) after a first run, booked in the connection's
    verkoopboek 70; the division also keeps a second verkoopboek, 71 for the webshop."""
    with sandbox_world(tmp_path, target="exact", invoices=4) as w:
        first = await w.run()
        assert first.progress.booked > 0, first.message
        w.ex.add_journal("71", "Verkoopboek webshop", 20)
        yield w


async def test_picker_lists_the_live_ledger_accounts_and_typing_narrows_them(
    world: World, make_app: AppFactory
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mapping(app, pilot)
        await go_to(pilot, "verkoop 21")
        assert cursor_row(app) == "tegenrekening:verkoop:21"
        screen = screen_text(app)
        assert "standaard: 8000" in screen  # no override: the default applies, and says so

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MappingPicker), "the picker")
        await pilot.pause()
        screen = screen_text(app)
        assert "Tegenrekening voor verkoop 21%" in screen
        assert "Huidig: standaard: 8000" in screen
        # Balance-sheet accounts cannot carry revenue: Debiteuren, Crediteuren, Bank are not offered.
        picker = app.screen
        assert isinstance(picker, MappingPicker)
        offered = {option.id for option in picker.choices}
        assert {"8000", "8010", "8020", "4000"} <= offered
        assert not offered & {"1300", "1600", "1100", "1000"}

        # Search as you type: the focus is in the search field at once.
        for char in "omzet":
            await pilot.press(char)
        await pilot.pause()
        screen = screen_text(app)
        assert "8000     Omzet hoog" in screen
        assert "8010     Omzet laag" in screen
        assert "Autokosten" not in screen
        for char in " laag":
            await pilot.press(char if char != " " else "space")
        await pilot.pause()
        screen = screen_text(app)
        assert "8010     Omzet laag" in screen
        assert "Omzet hoog" not in screen

        await pilot.press("escape")  # cancel: nothing written
        await pilot.pause()
        assert not isinstance(app.screen, MappingPicker)
    assert "verkoop:21" not in mapping_in_file(world)["tegenrekening"]


async def test_choosing_8010_for_9_percent_is_written_with_comments_intact_and_audited(
    world: World, make_app: AppFactory
) -> None:
    prepare_file(world)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mapping(app, pilot)
        await go_to(pilot, "verkoop 9")
        assert cursor_row(app) == "tegenrekening:verkoop:9"
        assert "8000 Omzet hoog" in screen_text(app)

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MappingPicker), "the picker")
        for char in "8010":
            await pilot.press(char)
        await pilot.press("enter")
        await wait_for_text(pilot, "Opgeslagen in koppelaar.toml")
        screen = screen_text(app)
        assert "verkoop 9%" in screen and "8010 Omzet laag" in screen

    text = world.home.config.read_text()
    assert BLOCK_COMMENT in text
    assert INLINE_COMMENT in text
    mapping = mapping_in_file(world)
    assert mapping["tegenrekening"]["verkoop:9"] == "8010"
    assert mapping["tegenrekening"]["verkoop:0"] == "8020"  # neighbours untouched
    at, actor, action, koppeling, detail = audit(world)[0]
    assert (action, koppeling) == ("mapping", "facturen")
    assert actor and at
    assert json.loads(detail) == {"key": "tegenrekening.verkoop:9", "old": "8000", "new": "8010"}


async def test_clearing_an_override_falls_back_to_the_default_and_says_so(
    world: World, make_app: AppFactory
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mapping(app, pilot)
        await go_to(pilot, "verkoop 9")
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "a confirmation")
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert confirm.question == "verkoop 9%: 8010 wissen? Daarna geldt: standaard: 8000."
        await wait_for_text(pilot, "Daarna geldt")
        await pilot.press("j")
        await wait_for_text(pilot, "gebruikt nu: standaard: 8000")
    assert "verkoop:9" not in mapping_in_file(world)["tegenrekening"]
    assert json.loads(audit(world)[0][4]) == {"key": "tegenrekening.verkoop:9", "old": "8010", "new": ""}


async def test_the_value_a_parked_invoice_waits_for_is_highlighted_and_a_wrong_rate_refused(
    world: World, make_app: AppFactory
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        mapping = await open_mapping(app, pilot)
        screen = screen_text(app)
        # At the top: what the parked invoice (7% btw) waits for, and how to book it afterwards.
        assert "Niet gekoppeld: verkoop:7" in screen
        assert "Opnieuw proberen" in screen
        # The row itself is marked and red, and the cursor is on it.
        assert cursor_row(app) == "btw:verkoop:7"
        table = app.screen.query_one("#mapping-table", DataTable)
        marker, _, label, target = table.get_row("btw:verkoop:7")
        assert isinstance(target, Text) and target.plain == "niet gekoppeld" and "red" in str(target.style)
        assert isinstance(marker, Text) and marker.plain == "!"
        assert isinstance(label, Text) and label.plain == "verkoop 7%"
        # Mapped rates show what the connector would pick by itself.
        assert table.get_row("btw:verkoop:21")[3].plain == "standaard: HOOG_VERK_21"

        # A 21% code for a 7% line would be refused by e-Boekhouden: refused here, with the reason.
        before = world.home.config.read_bytes()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MappingPicker), "the picker")
        for char in "HOOG_VERK_21":
            await pilot.press(char)
        await pilot.press("enter")
        await wait_for_text(pilot, "btw-code HOOG_VERK_21 is 21%, maar deze bronwaarde is 7%")
        assert world.home.config.read_bytes() == before

        # The afwijkend code takes the invoice's own VAT amount: accepted, and the banner says what next.
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MappingPicker), "the picker")
        for char in "AFW_VERK":
            await pilot.press(char)
        await pilot.press("enter")
        await wait_for_text(pilot, "Nu gekoppeld: verkoop:7")
        assert mapping.current(next(r for r in mapping.rows if r.key == "btw:verkoop:7")) == "AFW_VERK"
    assert mapping_in_file(world)["btw_codes"] == {"verkoop:7": "AFW_VERK"}


async def test_a_kostenplaats_for_verkoop_from_the_live_list_is_saved_audited_and_booked_by_the_next_run(
    world: World, make_app: AppFactory
) -> None:
    prepare_file(world)
    audited = len(audit(world))
    advies = next(c for c in world.eb.cost_centers if c.description == "Advies")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mapping(app, pilot)
        await go_to(pilot, "kostenplaats")
        assert cursor_row(app) == "kostenplaats:verkoop"
        table = app.screen.query_one("#mapping-table", DataTable)
        assert {table.get_row_at(i)[1].plain for i in range(table.row_count)} == {"Kostenplaats"}
        assert doel(app, "kostenplaats:verkoop") == "geen kostenplaats"  # optional: no red

        picker = await pick(app, pilot, "")
        assert "Kostenplaats voor verkoop — standaard" in screen_text(app)
        assert "Huidig: geen kostenplaats" in screen_text(app)
        # The administratie's kostenplaatsen, live; the closed branch (inactive) is not offered.
        assert {option.id for option in picker.choices} == {
            str(c.id) for c in world.eb.cost_centers if c.active
        }
        for char in "advies":
            await pilot.press(char)
        await pilot.pause()
        screen = screen_text(app)
        assert f"{advies.id:<8} Advies" in screen
        assert "Detachering" not in screen
        await pilot.press("enter")
        await wait_for_text(pilot, "Opgeslagen in koppelaar.toml")
        assert doel(app, "kostenplaats:verkoop") == f"{advies.id} Advies"
        assert doel(app, "kostenplaats:inkoop") == "geen kostenplaats"

    text = world.home.config.read_text()
    assert BLOCK_COMMENT in text and INLINE_COMMENT in text
    assert mapping_in_file(world)["kostenplaatsen"] == {"verkoop": str(advies.id)}
    entries = audit(world)
    assert len(entries) == audited + 1
    _at, actor, action, koppeling, detail = entries[0]
    assert (action, koppeling) == ("mapping", "facturen") and actor
    assert json.loads(detail) == {"key": "kostenplaatsen.verkoop", "old": "", "new": str(advies.id)}

    # The next night: every line of a new sales invoice books on kostenplaats Advies.
    client = world.fs.add_client("Bakkerij Jansen").clientnr
    invoice = world.fs.add_invoice(
        client, [(2, "100.00", 21, "Advies uren"), (1, "40.00", 9, "Brood")], sent="2026-01-21"
    )
    report = await world.run()
    assert report.progress.booked == 1, report.message
    booked = [m for m in world.eb.mutations if m.invoice_number == invoice.invoicenr_full]
    assert len(booked) == 1 and len(booked[0].rows) == 2
    assert {row.cost_center_id for row in booked[0].rows} == {advies.id}
    earlier = [row for m in world.eb.mutations if m is not booked[0] for row in m.rows]
    assert earlier and all(row.cost_center_id is None for row in earlier)


async def test_an_exact_koppeling_books_in_the_verkoopboek_picked_from_the_live_journals(
    exact: World,
) -> None:
    app = new_app(exact)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mapping(app, pilot)
        await go_to(pilot, "dagboek")
        assert cursor_row(app) == "dagboek:verkoop"
        assert doel(app, "dagboek:verkoop") == "standaard: 70 (verbinding)"
        assert doel(app, "dagboek:inkoop") == "standaard: 60 (verbinding)"

        picker = await pick(app, pilot, "")
        assert "Dagboek voor verkoopfacturen" in screen_text(app)
        # Only the division's sales journals: not its inkoopboek, kas or memoriaal.
        assert [option.id for option in picker.choices] == ["70", "71"]
        for char in "webshop":
            await pilot.press(char)
        await pilot.press("enter")
        await wait_for_text(pilot, "Opgeslagen in koppelaar.toml")
        assert doel(app, "dagboek:verkoop") == "71 Verkoopboek webshop"

        # Clearing asks first and says what then applies; "n" keeps 71.
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "a confirmation")
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert confirm.question == "verkoopboek: 71 wissen? Daarna geldt: standaard: 70 (verbinding)."
        await pilot.press("n")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the confirmation closes")
    assert mapping_in_file(exact)["dagboeken"] == {"verkoop": "71"}
    assert json.loads(audit(exact)[0][4]) == {"key": "dagboeken.verkoop", "old": "", "new": "71"}

    client = exact.fs.add_client("Bakkerij Jansen").clientnr
    invoice = exact.fs.add_invoice(client, [(1, "100.00", 21, "Taarten")], sent="2026-01-21")
    report = await exact.run()
    assert report.progress.booked == 1, report.message
    journal = {str(e["YourRef"]).strip(): e["Journal"] for e in exact.ex.sales_entries()}
    assert journal.pop(invoice.invoicenr_full) == "71"
    assert set(journal.values()) == {"70"}  # booked before the choice: where they were


async def test_e_boekhouden_has_no_dagboeken_so_the_rows_say_so_and_cannot_be_edited(
    world: World, make_app: AppFactory
) -> None:
    before = world.home.config.read_bytes()
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await open_mapping(app, pilot)
        assert doel(app, "dagboek:verkoop") == "geen dagboeken in e-Boekhouden.nl"
        assert doel(app, "dagboek:inkoop") == "geen dagboeken in e-Boekhouden.nl"
        await go_to(pilot, "dagboek")
        assert cursor_row(app) == "dagboek:verkoop"
        await pilot.press("enter")
        await wait_for_words(pilot, "e-Boekhouden.nl kent geen dagboeken: boekt per soort mutatie")
        assert not isinstance(app.screen, MappingPicker)
        await pilot.press("x")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        await app.workers.wait_for_complete()
    assert world.home.config.read_bytes() == before


async def test_read_only_shows_everything_but_refuses_the_edit_and_leaves_the_file_alone(
    world: World, make_app: AppFactory
) -> None:
    prepare_file(world)
    before = world.home.config.read_bytes()
    audited = audit(world)
    app = make_app(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mapping(app, pilot)
        assert "Niet gekoppeld: verkoop:7" in screen_text(app)
        await go_to(pilot, "verkoop 9")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MappingPicker), "the picker (looking is fine)")
        assert "alleen-lezen" in screen_text(app)
        for char in "8010":
            await pilot.press(char)
        await pilot.press("enter")
        await wait_for_text(pilot, "Alleen-lezen: de mapping wijzigen is niet toegestaan")
        # Clearing is not offered at all (dimmed in the footer): no confirmation, nothing written.
        await pilot.press("x")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)

        # A kostenplaats: the live list can be looked at, the choice is refused the same way.
        await pilot.press("escape")  # clears the filter
        await go_to(pilot, "kostenplaats")
        assert cursor_row(app) == "kostenplaats:verkoop"
        await pick(app, pilot, "advies")
        assert "alleen-lezen" in screen_text(app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, MappingPicker), "the picker closes")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Alleen-lezen: de mapping wijzigen" in str(app.screen.query_one("#mapping-status").render())
        assert doel(app, "kostenplaats:verkoop") == "geen kostenplaats"
    assert world.home.config.read_bytes() == before
    assert audit(world) == audited


async def test_a_hand_edit_that_breaks_the_file_is_not_overwritten_and_the_reason_is_shown(
    world: World, make_app: AppFactory
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mapping(app, pilot)
        # Meanwhile someone schedules the run at 02:30 in an editor: invalid (daylight saving).
        broken = world.home.config.read_text().replace('schedule = "15 3 * * *"', 'schedule = "30 2 * * *"')
        world.home.config.write_text(broken)
        await go_to(pilot, "verkoop 21")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MappingPicker), "the picker")
        for char in "8010":
            await pilot.press(char)
        await pilot.press("enter")
        await wait_for_text(pilot, "Niet opgeslagen")
        assert "02:00-02:59" in str(app.screen.query_one("#mapping-status").render())
    assert world.home.config.read_text() == broken


async def test_an_unreachable_target_says_so_and_the_mapping_can_still_be_read(
    world: World, make_app: AppFactory
) -> None:
    text = world.home.config.read_text()
    world.home.config.write_text(text.replace(world.server.eboekhouden_url, "http://127.0.0.1:9"))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        mapping = await open_mapping(app, pilot, loaded=False)
        screen = screen_text(app)
        assert "Kan de grootboekrekeningen van e-Boekhouden.nl niet ophalen" in screen
        assert "8010 Omzet laag" not in screen and "8010" in screen  # the file's values, without names
        await go_to(pilot, "verkoop 21")
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, MappingPicker)
        assert mapping.directory is None


async def test_slash_filters_the_source_values_and_escape_clears(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mapping(app, pilot)
        table = app.screen.query_one("#mapping-table", DataTable)
        everything = table.row_count
        await pilot.press("slash")
        for char in "inkoop":
            await pilot.press(char)
        await pilot.pause()
        assert 0 < table.row_count < everything
        assert all("inkoop" in table.get_row_at(i)[2].plain for i in range(table.row_count))
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == everything
        assert not app.screen.query_one("#mapping-filter", Input).display
        assert table.has_focus

        # Filtered, then back in the list: Escape first clears the filter, then goes back as everywhere.
        await go_to(pilot, "btw")
        assert table.has_focus and table.row_count < everything
        await pilot.press("escape")
        await pilot.pause()
        assert table.row_count == everything
        await pilot.press("escape")
        await pilot.pause()
        assert not app.screen.query(MappingTab)


async def test_an_exact_tegenrekening_is_picked_from_winst_en_verlies_accounts_only(exact: World) -> None:
    app = new_app(exact)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_mapping(app, pilot)
        await go_to(pilot, "verkoop 21")
        picker = await pick(app, pilot, "")
        offered = {option.id for option in picker.choices}
        # Exact's balance accounts (BalanceType B: Debiteuren, Crediteuren, bank) never carry revenue.
        assert "8000" in offered
        assert not offered & {"1300", "1600"}, sorted(map(str, offered))
