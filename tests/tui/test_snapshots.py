"""Text snapshots of the key screens at 80x24: what an admin over SSH sees, character for character.

Home-made rather than pytest-textual-snapshot: that plugin pins syrupy 4.8.0, which needs pytest<9 while
the project runs pytest 9; a plain-text snapshot also reviews as a readable diff, and colours are
covered elsewhere (ANSI names in tables, theme variables in the stylesheet). The screens are made
deterministic: fixed sandbox data, run times rewritten to fixed moments, 'now' frozen for the next
runs, no animations, and a capture only once two consecutive frames agree.

Regenerate after an intended change: `KOPPELAAR_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/tui/test_snapshots.py`
and review the diff of tests/tui/snapshots/.
"""

from __future__ import annotations

import difflib
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from textual.pilot import Pilot

import sync.status
from sync.scheduler import next_fire_times
from tests.tui.conftest import SIZE, AppFactory, screen_text, wait_for_text, wait_until
from tests.world import World
from tui.app import KoppelaarApp
from tui.screens.help import HelpScreen
from tui.screens.koppeling import KoppelingScreen

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("KOPPELAAR_UPDATE_SNAPSHOTS") == "1"
NOW = datetime(2026, 1, 21, 9, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))
# The two runs of the world, as if made last night and this morning (UTC, as the store keeps them).
RUN_TIMES = {
    1: ("2026-01-21T02:15:03+00:00", "2026-01-21T02:15:09+00:00"),
    2: ("2026-01-21T08:02:41+00:00", "2026-01-21T08:02:44+00:00"),
}


@pytest.fixture
def frozen(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    def fixed_next_fire_times(
        schedule: str, timezone: str, count: int, after: datetime | None = None
    ) -> list[datetime]:
        return next_fire_times(schedule, timezone, count, after=after or NOW)

    monkeypatch.setattr(sync.status, "next_fire_times", fixed_next_fire_times)
    db = sqlite3.connect(world.home.database)
    with db:
        for run_id, (started, finished) in RUN_TIMES.items():
            db.execute(
                "UPDATE runs SET started_at = ?, finished_at = ? WHERE id = ?", (started, finished, run_id)
            )
    db.close()
    return world


async def settled(pilot: Pilot[Any]) -> str:
    """The screen once two frames in a row agree (workers done, refreshes painted)."""
    app = pilot.app
    assert isinstance(app, KoppelaarApp)
    frames = [""]

    def stable() -> bool:
        frames.append(screen_text(app))
        return frames[-1] == frames[-2]

    await app.workers.wait_for_complete()
    await wait_until(pilot, stable, "the screen to settle")
    return "\n".join(line.rstrip() for line in frames[-1].splitlines()) + "\n"


def assert_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path.name}: run with KOPPELAAR_UPDATE_SNAPSHOTS=1 and review it\n{text}")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), text.splitlines(keepends=True), "snapshot", "now"
            )
        )
        pytest.fail(f"{path.name} differs (KOPPELAAR_UPDATE_SNAPSHOTS=1 accepts it):\n{diff}")


async def open_koppeling(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await wait_for_text(pilot, "facturen")
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, KoppelingScreen), "the koppeling screen")
    await wait_for_text(pilot, "Doel boekhouding:")
    await wait_for_text(pilot, "Foutmeldingen (1)")  # the tab label counts the open problems


async def test_overview(frozen: World, make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "deels 0/1")
        assert_snapshot("overview", await settled(pilot))


async def test_status_tab(frozen: World, make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_koppeling(pilot)
        assert_snapshot("status", await settled(pilot))


async def test_runs_tab(frozen: World, make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_koppeling(pilot)
        await pilot.press("4")
        await wait_for_text(pilot, "Onbekend btw-tarief 7%")  # run 2 highlighted: one parked invoice
        assert_snapshot("runs", await settled(pilot))


async def test_instellingen_tab(frozen: World, make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_koppeling(pilot)
        await pilot.press("5")
        await wait_for_text(pilot, "Volgende runs:")
        assert_snapshot("instellingen", await settled(pilot))


async def test_help_on_the_status_tab(frozen: World, make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_koppeling(pilot)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        assert_snapshot("help-status", await settled(pilot))
