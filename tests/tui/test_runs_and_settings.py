"""Runs tab (the history, and per run what happened to each invoice) and Instellingen tab (schedule,
retries of a failed night and currency policy, written to koppelaar.toml with its comments kept)."""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, TabbedContent

from state.config import load_settings
from state.settings import CurrencyPolicy
from sync.scheduler import next_fire_times
from tests.tui.conftest import SIZE, AppFactory, screen_text, wait_for_text, wait_for_words, wait_until
from tests.world import World
from tui.app import KoppelaarApp
from tui.screens.koppeling import KoppelingScreen
from tui.widgets.runs_tab import RunsTab


async def open_tab(pilot: Pilot[Any], key: str, shows: str) -> KoppelingScreen:
    app = pilot.app
    assert isinstance(app, KoppelaarApp)
    await wait_for_text(pilot, "facturen")
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, KoppelingScreen), "the koppeling screen")
    await pilot.press(key)
    await wait_for_text(pilot, shows)
    screen = app.screen
    assert isinstance(screen, KoppelingScreen)
    return screen


async def test_runs_newest_first_with_the_outcome_per_invoice(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tab(pilot, "4", "Run 2:")
        runs = screen.query_one(RunsTab).query_one("#runs", DataTable)
        assert [runs.get_row_at(i)[0] for i in range(runs.row_count)] == ["2", "1"]
        text = screen_text(app)
        # The newest run is highlighted: its one record was parked because 7% VAT has no code.
        assert "Onbekend btw-tarief 7%" in text
        assert "deels" in text and "handmatig" in text
        await pilot.press("down")
        text = await wait_for_text(pilot, "Run 1: 8 records")
        assert text.count("geboekt ") >= 8  # eight invoices, each 'geboekt' with its booking number


async def test_a_run_made_on_the_status_tab_appears_when_the_runs_tab_is_opened_again(
    world: World, make_app: AppFactory
) -> None:
    client = world.fs.add_client("Bakkerij De Korenschoof").clientnr
    world.fs.add_invoice(client, [(1, "80.00", 21, "Bruidstaart")], sent="2026-01-22")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tab(pilot, "4", "Run 2:")
        await pilot.press("1")
        await wait_until(pilot, lambda: "Doel boekhouding:" in screen_text(app), "the connection checks")
        await pilot.press("n")
        await wait_for_text(pilot, "1 geboekt")
        await app.workers.wait_for_complete()
        await pilot.press("4")
        runs = screen.query_one(RunsTab).query_one("#runs", DataTable)
        await wait_until(pilot, lambda: runs.row_count == 3, "the third run in the list")
        assert runs.get_row_at(0)[0] == "3"


async def test_next_runs_follow_the_schedule_and_a_new_schedule_is_saved(
    world: World, make_app: AppFactory
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tab(pilot, "5", "Volgende runs:")
        assert screen_text(app).count("03:15") == 5
        box = screen.query_one("#schedule", Input)
        box.focus()
        box.value = "30 4 * * mon-fri"  # weekdays at 04:30
        await pilot.press("enter")
        text = await wait_for_text(pilot, "Opgeslagen in koppelaar.toml.")
        assert text.count("04:30") == 5
        assert "za " not in text and "zo " not in text  # no weekend days
    settings = load_settings(world.home.config)
    assert settings.koppelingen["facturen"].schedule == "30 4 * * mon-fri"
    assert world.home.config.read_text().startswith("# Koppelaar demo")  # the file's comment kept


async def test_next_runs_read_weekday_numbers_as_standard_cron(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tab(pilot, "5", "Volgende runs:")
        box = screen.query_one("#schedule", Input)
        box.focus()
        box.value = "0 4 * * 0"  # cron's Sunday; APScheduler alone reads 0 as Monday
        await pilot.press("enter")
        text = await wait_for_text(pilot, "Opgeslagen in koppelaar.toml.")
        fires = [line.split() for line in text.split("Volgende runs:", 1)[1].splitlines()[1:6]]
        assert [fire[0] for fire in fires] == ["zo"] * 5, text


async def test_an_invalid_schedule_is_refused_and_the_file_is_untouched(
    world: World, make_app: AppFactory
) -> None:
    before = world.home.config.read_bytes()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tab(pilot, "5", "Volgende runs:")
        box = screen.query_one("#schedule", Input)
        box.focus()
        box.value = "elke nacht"
        await pilot.press("enter")
        text = await wait_for_text(pilot, "schedule")
        assert "Opgeslagen" not in text
    assert world.home.config.read_bytes() == before


async def test_an_invalid_schedule_says_in_full_at_80x24_that_the_file_was_not_changed(
    make_app: AppFactory,
) -> None:
    """The error stood below the other settings: its last line (koppelaar.toml not changed) was
    off-screen at 80x24."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tab(pilot, "5", "Volgende runs:")
        box = screen.query_one("#schedule", Input)
        box.focus()
        box.value = "61 3 * * *"
        await pilot.press("enter")
        await wait_for_text(pilot, "koppelingen.facturen.schedule")
        words = " ".join(screen_text(app).split())
    assert "61 is meer dan het maximum 59" in words, words
    assert "koppelaar.toml is niet veranderd" in words, words


async def test_the_chosen_runs_message_is_shown_whole_at_80x24(make_app: AppFactory) -> None:
    """The Melding column is cut at 80 columns ('0 geboekt, 1 f')."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, "4", "Onbekend btw-tarief 7%")
        text = await wait_for_text(pilot, "Run 2:")
    assert "Run 2: 1 records — 0 geboekt, 1 foutmelding(en), 0 onzeker" in text, text


async def test_the_currency_policy_is_saved(world: World, make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tab(pilot, "5", "Vreemde valuta")
        screen.query_one("#currency", Select).value = CurrencyPolicy.REFUSE.value
        await wait_for_text(pilot, "Opgeslagen in koppelaar.toml.")
    assert load_settings(world.home.config).koppelingen["facturen"].currency_policy is CurrencyPolicy.REFUSE


async def test_retries_and_their_delay_are_saved_with_the_comments_kept_and_audited(
    world: World, make_app: AppFactory
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tab(pilot, "5", "Herhalen als een geplande run mislukt")
        assert "2 keer herhalen" in screen_text(app) and "na 30 minuten" in screen_text(app)
        screen.query_one("#retries", Select).focus()
        await pilot.press("enter", "down", "enter")  # from 2 to 3, as an admin picks it
        await wait_for_text(pilot, "Opgeslagen in koppelaar.toml.")
        screen.query_one("#retry-delay", Select).value = 60
        await wait_until(
            pilot,
            lambda: load_settings(world.home.config).koppelingen["facturen"].retry_delay_minutes == 60,
            "the delay saved",
        )
    text = world.home.config.read_text()
    assert "retries = 3\n" in text and "retry_delay_minutes = 60\n" in text
    assert text.startswith("# Koppelaar demo")  # the file's comment kept
    with closing(world.store()) as store:
        edits = [row for row in store.audit_log(10) if row[2] == "instelling"]
    assert [row[4] for row in edits[:2]] == [
        '{"key": "retry_delay_minutes", "old": 30, "new": 60}',
        '{"key": "retries", "old": 2, "new": 3}',
    ]


async def test_read_only_cannot_change_the_retries(world: World, make_app: AppFactory) -> None:
    before = world.home.config.read_bytes()
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tab(pilot, "5", "Herhalen als een geplande run mislukt")
        retries = screen.query_one("#retries", Select)
        assert retries.disabled and screen.query_one("#retry-delay", Select).disabled
        retries.value = 5  # even if a value got there, it is not saved
        await wait_for_words(pilot, "Alleen-lezen: instellingen wijzigen is niet toegestaan")
    assert world.home.config.read_bytes() == before


async def test_a_pending_retry_is_the_next_run_in_the_overview_and_the_instellingen_tab(
    world: World, make_app: AppFactory
) -> None:
    # Last night failed with the target unreachable; its first retry is due before the next night.
    due = next_fire_times("15 3 * * *", "Europe/Amsterdam", 1)[0] - timedelta(minutes=1)
    with closing(world.store()) as store:
        store.plan_retry("facturen", "2026-01-21", 1, due.isoformat())
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        text = await wait_for_text(pilot, "herh. 03:14")
        assert "Volgende" in text
        await open_tab(pilot, "5", "herhaling 1/2")
        fires = screen_text(app).split("Volgende runs:", 1)[1].splitlines()[1:6]
        assert "03:14" in fires[0] and "herhaling 1/2" in fires[0]
        assert all("03:15" in fire for fire in fires[1:])


async def test_5_on_the_runs_tab_opens_the_instellingen(make_app: AppFactory) -> None:
    # The focus stayed in the hidden Runs pane and moved on to its records list: the tabs followed it.
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_tab(pilot, "4", "Run 2:")
        await app.workers.wait_for_complete()
        await pilot.press("5")
        await wait_for_text(pilot, "Volgende runs:")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.query_one(TabbedContent).active == "instellingen"
