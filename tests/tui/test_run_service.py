"""A run belongs to the program, not to a screen: it goes on when the admin leaves the koppeling, the
Overzicht shows its progress and outcome, and quitting while it is busy asks first."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from state.store import OutboxState
from tests.tui.conftest import SIZE, AppFactory, screen_text, wait_for_text, wait_until
from tests.tui.test_status import new_invoice, open_status
from tests.world import World
from tui.app import KoppelaarApp
from tui.screens.overview import OverviewScreen
from tui.screens.quit import QuitScreen

SLOW_BOOKING_MS = 1500  # each booking takes this long: the run is still busy when the admin leaves


def slow_bookings(world: World) -> None:
    world.eb.faults.add("latency", method="POST", path="/v1/mutation", ms=SLOW_BOOKING_MS)


def overview_row(text: str, name: str = "facturen") -> str:
    return next((line for line in text.splitlines() if name in line), "")


async def test_a_run_goes_on_after_its_screen_is_left_and_the_overview_shows_its_count(
    world: World, make_app: AppFactory
) -> None:
    numbers = [new_invoice(world, f"Bakkerij {i}") for i in range(3)]
    slow_bookings(world)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_status(pilot)
        await pilot.press("n")
        await wait_for_text(pilot, "ophalen en boeken")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen), "back in the Overzicht")
        # Still busy, and the Overzicht says so while it books.
        await wait_until(pilot, lambda: "Bezig" in overview_row(screen_text(app)), "'Bezig' in the Overzicht")
        await wait_until(
            pilot,
            lambda: " ok " in overview_row(screen_text(app)),
            "the finished run in the Overzicht",
        )
        row = overview_row(screen_text(app))
        assert "3/0" in row, row
    assert all(world.bookings_per_invoice()[number] == 1 for number in numbers)
    store = world.store()
    try:
        latest = store.runs("facturen", limit=1)[0]
    finally:
        store.close()
    assert (latest.status, latest.booked) == ("ok", 3), latest


async def busy_run(pilot: Pilot[Any], app: KoppelaarApp) -> None:
    """Start a run from the Status tab and wait until it is booking."""
    await open_status(pilot)
    await pilot.press("n")
    await wait_for_text(pilot, "ophalen en boeken")


async def test_quitting_while_a_run_is_busy_asks_and_stop_safely_leaves_the_rest_for_the_next_run(
    world: World, make_app: AppFactory
) -> None:
    numbers = [new_invoice(world, f"Bakkerij {i}") for i in range(6)]
    slow_bookings(world)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await busy_run(pilot, app)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), "the question before quitting")
        assert app.return_code is None  # not gone while a run is busy
        assert "facturen" in screen_text(app)
        await pilot.press("s")
        await wait_until(pilot, lambda: app.return_code is not None, "the console quits once the run stopped")
    store = world.store()
    try:
        latest = store.runs("facturen", limit=1)[0]
        sending = list(store.outbox_rows("facturen", (OutboxState.SENDING, OutboxState.UNKNOWN)))
    finally:
        store.close()
    assert latest.status == "partial" and "gestopt" in latest.message, latest
    assert latest.booked < len(numbers), latest  # it stopped before the end ...
    assert not sending  # ... with nothing half-sent
    # ... and the next run books the rest, each invoice once.
    world.eb.faults.clear()
    report = await world.run()
    assert report.status.value == "ok", report.message
    assert all(world.bookings_per_invoice()[number] == 1 for number in numbers)


async def test_quitting_can_wait_for_the_run_to_finish(world: World, make_app: AppFactory) -> None:
    numbers = [new_invoice(world, f"Bakkerij {i}") for i in range(2)]
    slow_bookings(world)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await busy_run(pilot, app)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), "the question before quitting")
        await pilot.press("w")
        await wait_until(pilot, lambda: app.return_code is not None, "the console quits when the run is done")
    assert all(world.bookings_per_invoice()[number] == 1 for number in numbers)


async def test_escape_keeps_the_console_open_with_the_run_going(world: World, make_app: AppFactory) -> None:
    new_invoice(world)
    slow_bookings(world)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await busy_run(pilot, app)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitScreen), "the question before quitting")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, QuitScreen), "the question answered")
        await wait_until(pilot, lambda: not app.workspace.run_service.busy(), "the run finishes")
        assert app.return_code is None
