"""The console's habits, the same on every screen: `?` help with binding ids, the command palette, `/`
filters, keys remapped by id in koppelaar.toml, read-only mode, English, confirmation before harm."""

from __future__ import annotations

from typing import Any

from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, TabbedContent

from state.config import ConfigFile
from tests.tui.conftest import (
    SIZE,
    AppFactory,
    screen_text,
    wait_for_text,
    wait_for_words,
    wait_until,
)
from tests.world import World
from tui.app import KoppelaarApp
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.koppeling import KoppelingScreen
from tui.screens.overview import OverviewScreen


async def open_koppeling(pilot: Pilot[Any]) -> KoppelingScreen:
    app = pilot.app
    assert isinstance(app, KoppelaarApp)
    await wait_for_text(pilot, "facturen")
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, KoppelingScreen), "the koppeling screen")
    await wait_until(pilot, lambda: "boekhouding:" in screen_text(app), "the connection checks")
    screen = app.screen
    assert isinstance(screen, KoppelingScreen)
    return screen


def runs_in_store(world: World) -> int:
    store = world.store()
    try:
        return len(store.runs("facturen", limit=1000))
    finally:
        store.close()


async def help_lines(pilot: Pilot[Any]) -> list[str]:
    app = pilot.app
    await pilot.press("question_mark")
    await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
    screen = app.screen
    assert isinstance(screen, HelpScreen)
    return screen.lines


# -- help ---------------------------------------------------------------------------------------------


async def test_help_lists_the_keys_of_the_screen_you_came_from_with_their_ids(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "facturen")
        lines = "\n".join(await help_lines(pilot))
        for ident in ("filter", "refresh", "help", "command-palette"):
            assert f"({ident})" in lines, lines
        assert "(run-now)" not in lines  # a Status tab key, not the overview's
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen), "help closed")

        await open_koppeling(pilot)
        lines = "\n".join(await help_lines(pilot))
        for ident in ("run-now", "dry-run", "pause", "deactivate", "check", "back"):
            assert f"({ident})" in lines, lines
        assert "(refresh)" not in lines


async def test_help_lists_the_keys_that_are_shadowed_by_the_focused_widget(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "facturen")
        lines = "\n".join(await help_lines(pilot))
        assert "(open-koppeling)" in lines and "(quit)" in lines


# -- command palette ----------------------------------------------------------------------------------


async def test_the_command_palette_opens_a_koppeling_on_the_asked_tab(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "facturen")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), "the command palette")
        await pilot.press(*"facturen runs")
        commands = app.screen.query_one(CommandList)

        def first_hit_is_runs() -> bool:
            return (
                commands.option_count > 0
                and "facturen: Runs" in str(commands.get_option_at_index(0).prompt)
                and commands.highlighted == 0
            )

        await wait_until(pilot, first_hit_is_runs, "'facturen: Runs' as the first hit")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, KoppelingScreen), "the koppeling screen")
        await wait_until(
            pilot, lambda: app.screen.query_one(TabbedContent).active == "runs", "the Runs tab active"
        )


# -- `/` filter ---------------------------------------------------------------------------------------


async def test_slash_filters_the_overview_and_escape_clears_it(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "facturen")
        table = app.screen.query_one("#koppelingen", DataTable)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"inkoop")
        await wait_until(pilot, lambda: table.row_count == 0, "no koppeling matching 'inkoop'")
        await pilot.press(*["backspace"] * 6, *"boekhouding")  # the target's name matches too
        await wait_until(pilot, lambda: table.row_count == 1, "'facturen' matching 'boekhouding'")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.focused is table, "focus back on the list")
        assert not app.screen.query_one("#filter", Input).display
        assert table.row_count == 1


# -- keymap -------------------------------------------------------------------------------------------


async def test_a_binding_id_remapped_in_koppelaar_toml_works_with_the_new_key(
    world: World, make_app: AppFactory
) -> None:
    config = ConfigFile.open(world.home.config)
    config.set(("app", "keymap", "run-now"), "ctrl+r")
    config.save()
    client = world.fs.add_client("Bakkerij De Korenschoof").clientnr
    number = world.fs.add_invoice(client, [(1, "80.00", 21, "Bruidstaart")], sent="2026-01-22").invoicenr_full
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_koppeling(pilot)
        lines = await help_lines(pilot)
        assert any("^r" in line and "(run-now)" in line for line in lines), lines
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, KoppelingScreen), "help closed")
        await pilot.press("ctrl+r")
        await wait_for_text(pilot, "1 geboekt")
        await app.workers.wait_for_complete()
    assert world.bookings_per_invoice()[number] == 1


# -- read-only ----------------------------------------------------------------------------------------


async def test_read_only_allows_looking_but_refuses_runs_and_changes(
    world: World, make_app: AppFactory
) -> None:
    client = world.fs.add_client("Bakkerij De Korenschoof").clientnr
    world.fs.add_invoice(client, [(1, "80.00", 21, "Bruidstaart")], sent="2026-01-22")
    config_before = world.home.config.read_bytes()
    runs_before, bookings_before = runs_in_store(world), len(world.eb.mutations)
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        assert "Alleen-lezen" in await wait_for_text(pilot, "facturen")
        screen = await open_koppeling(pilot)
        assert "Alleen-lezen" in screen_text(app), "the koppeling screen must still say read-only"
        for button in ("#run", "#pause", "#deactivate"):
            assert screen.query_one(button, Button).disabled, button
        await pilot.press("n")
        await wait_for_words(pilot, "Alleen-lezen: synchroniseren is niet toegestaan.")
        await pilot.press("p")
        await wait_for_words(pilot, "Alleen-lezen: instellingen wijzigen is niet toegestaan")
        refused = "Alleen-lezen: instellingen wijzigen is niet toegestaan"
        before = [n.message for n in app._notifications].count(refused + " (start zonder --read-only).")
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the deactivate question")
        await pilot.press("j")  # asked, then refused all the same
        await wait_until(
            pilot,
            lambda: (
                [n.message for n in app._notifications].count(refused + " (start zonder --read-only).")
                > before
            ),
            "deactivating refused",
        )
        await pilot.press("5")
        await wait_for_text(pilot, "Volgende runs:")
        assert screen.query_one("#schedule", Input).disabled
        await pilot.press("4")  # looking is allowed
        await wait_for_text(pilot, "Run 2:")
        await app.workers.wait_for_complete()
    assert world.home.config.read_bytes() == config_before
    assert runs_in_store(world) == runs_before
    assert len(world.eb.mutations) == bookings_before


async def test_read_only_palette_offers_no_run(make_app: AppFactory) -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "facturen")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), "the command palette")
        await pilot.press(*"facturen")
        commands = app.screen.query_one(CommandList)
        await wait_until(pilot, lambda: commands.option_count >= 5, "the koppeling's commands")
        titles = [str(commands.get_option_at_index(i).prompt) for i in range(commands.option_count)]
        assert not any("Nu synchroniseren" in title for title in titles), titles
        assert any("Dry-run" in title for title in titles), titles


# -- language -----------------------------------------------------------------------------------------


async def test_language_en_shows_english_labels(make_app: AppFactory) -> None:
    app = make_app(language="en")
    async with app.run_test(size=SIZE) as pilot:
        text = await wait_for_text(pilot, "facturen")
        for label in (
            "Integration",
            "Last run",
            "Next",
            "Errors",
            "Unmapped",
            "nobody",
            "Active",
            "partial 0/1",
            "Scheduler",
        ):
            assert label in text, f"{label!r} missing:\n{text}"
        assert "Laatste run" not in text
        await pilot.press("enter")
        text = await wait_for_text(pilot, "Target boekhouding")
        for label in ("Settings", "Sync now (n)", "Dry run (d)", "Source factuursturen"):
            assert label in text, f"{label!r} missing:\n{text}"


# -- confirmation -------------------------------------------------------------------------------------


async def test_deactivating_asks_first_and_no_changes_nothing(world: World, make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_koppeling(pilot)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert "deactiveren?" in screen_text(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, KoppelingScreen), "the question answered")
        assert "deactivated = true" not in world.home.config.read_text()

        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question again")
        await pilot.press("j")
        await wait_until(
            pilot, lambda: "deactivated = true" in world.home.config.read_text(), "deactivated in the file"
        )
        await wait_until(
            pilot,
            lambda: str(screen.query_one("#deactivate", Button).label) == "Activeren (x)",
            "the activate label",
        )
        await pilot.press("escape")
        await wait_for_text(pilot, "Gedeactiveerd")  # the overview says so, and plans no next run
