"""Latency of the Foutmeldingen tab with 100,000 foutmeldingen in koppelaar.db.

The console is driven headless (``App.run_test``) over a sandbox home whose store holds
100,000 grouped problems (inserted directly, not by 100,000 runs). Three actions are timed, each from the
key press until the table shows what the action asked for:

- **tab**: pressing ``2`` on a freshly opened koppeling screen until the first page is on screen (its rows
  were read when the screen opened), and until the re-read the tab does whenever it is shown has landed;
- **filter**: one keystroke in the ``/`` filter until the table shows the matching page;
- **next page**: ``down`` onto the last row of the loaded window until the next rows are in the table.

Goal: under 200 ms per action. Reported: median and p95 over ~20 actions each. Nothing is asserted.

``.venv/bin/python -m bench.foutmeldingen_latency [--problems 100000] [--actions 20]``;
from bench/run_all.py: ``bench.foutmeldingen_latency.run(problems=..., actions=...)`` returns the figures
as a dict and writes bench/results/foutmeldingen-latency.json and .md; ``markdown(result)`` gives the table.
Keys are sent to the driver the way a terminal sends them (not pilot.press, which waits for the app to
go idle after every key) and the clock stops at the first frame composed after the rows arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from state.home import Home
from state.store import Store, fingerprint

RESULTS = Path(__file__).resolve().parent / "results"
GOAL_MS = 200.0
PROBLEMS = 100_000
ACTIONS = 20

# Realistic kinds of problems per origin: (origin, code, title, advice). Numbers are filled in per row,
# so every row is its own group (its own fingerprint), as 100,000 distinct problems would be.
_KINDS = [
    (
        "mapping",
        "verkoop:{rate}",
        "Btw-tarief {rate}% (verkoop) heeft geen btw-code — factuur F2025-{n:05d}",
        "Kies onder Mapping een btw-code voor 'verkoop:{rate}' (btw_codes in koppelaar.toml),"
        " en kies daarna Opnieuw proberen.",
    ),
    (
        "doel",
        "MUTA_{n}",
        "e-Boekhouden weigert de boeking van factuur F2025-{n:05d}: tegenrekening {acc} bestaat niet",
        "Controleer de tegenrekening in de mapping.",
    ),
    (
        "bron",
        "totaal",
        "Factuur uit de bron afgekeurd (veld 'totaal') — F2025-{n:05d} van Bakkerij De Vries B.V.",
        "Corrigeer de factuur in de bron; de volgende run leest hem opnieuw als hij gewijzigd is.",
    ),
    (
        "authenticatie",
        "401",
        "API-token van e-Boekhouden geweigerd bij factuur F2025-{n:05d} (administratie {acc})",
        "Maak in e-Boekhouden een nieuw API-token aan en verbind opnieuw.",
    ),
    (
        "koppelaar",
        "internal",
        "Onverwachte fout bij factuur F2025-{n:05d} [{acc}]",
        "Meld dit bij Koppelaar met de details hieronder.",
    ),
]


def seed_foutmeldingen(
    database: Path, koppeling: str, count: int, *, records_per_problem: int = 1, seed: int = 7
) -> None:
    """Insert `count` foutmeldingen (and their records) straight into koppelaar.db, in one transaction.

    Direct SQL because going through runs would take hours; the schema is the store's own (the Store
    is opened first so the migrations have run)."""
    Store(database).close()
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, 3, 15, tzinfo=UTC)
    problems = []
    records = []
    statuses = ["open"] * 8 + ["ignored", "resolved"]
    for n in range(1, count + 1):
        origin, code, title, advice = _KINDS[n % len(_KINDS)]
        values = {"rate": rng.choice((5, 7, 12, 19)), "n": n, "acc": rng.randint(1000, 9999)}
        title, code, advice = title.format(**values), code.format(**values), advice.format(**values)
        first = start + timedelta(minutes=n)
        last = first + timedelta(days=rng.randint(0, 30))
        problems.append(
            (
                n,
                koppeling,
                fingerprint(origin, code, title, str(n)),
                origin,
                code,
                title,
                advice,
                int(origin == "doel"),
                statuses[n % len(statuses)],
                first.isoformat(timespec="seconds"),
                last.isoformat(timespec="seconds"),
                rng.randint(1, 40),
            )
        )
        for r in range(records_per_problem):
            reference = f"factuursturen:{n * 10 + r}"
            exchange = (
                f'POST /v1/mutation\n{{"invoiceNumber": "F2025-{n:05d}", "ledgerId": {values["acc"]}}}\n'
                f'-> 400 {{"code": "{code}", "message": "{title}"}}'
            )
            records.append((n, reference, f"factuur F2025-{n:05d}", exchange, last.isoformat()))
    db = sqlite3.connect(database)
    with db:
        db.executemany(
            "INSERT INTO foutmeldingen (id, koppeling, fingerprint, origin, code, title, advice, retryable,"
            " status, first_seen, last_seen, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            problems,
        )
        db.executemany(
            "INSERT INTO foutmelding_records (foutmelding_id, reference, detail, exchange, seen_at)"
            " VALUES (?, ?, ?, ?, ?)",
            records,
        )
    db.close()


def _stats(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(samples),
        "median_ms": round(statistics.median(samples), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(max(samples), 1),
        "under_goal": p95 < GOAL_MS,
    }


class _Clock:
    """Keys sent the way a terminal sends them, and the time of each frame the app composes.

    pilot.press waits for the app to go idle after every key, which on a loaded machine adds its own
    polling; here a key goes to the driver and the clock stops at the first frame composed after the
    table received the rows (headless: the final write to the terminal is the only thing not timed)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.frames: list[float] = []
        display = app._display

        def counting(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None:
                self.frames.append(time.perf_counter())

        app._display = counting

    def send(self, key: str) -> None:
        from textual import events
        from textual.keys import _character_to_key

        char = key if len(key) == 1 else {"slash": "/"}.get(key)
        name = _character_to_key(key) if len(key) == 1 and not key.isalnum() else key
        event = events.Key(name, char)
        event.set_sender(self.app)
        self.app._driver.send_message(event)

    async def until(self, predicate: Callable[[], bool], limit: float = 60.0, *, frame: bool = True) -> float:
        """Wait until the predicate holds, then (unless `frame` is False) for the next frame composed;
        return that frame's time."""
        deadline = time.perf_counter() + limit
        while not predicate():
            if time.perf_counter() > deadline:
                raise TimeoutError("the table did not show the expected rows in time")
            await asyncio.sleep(0.001)
        ready = time.perf_counter()
        if not frame:
            return ready
        while not self.frames or self.frames[-1] < ready:
            if time.perf_counter() > deadline:
                raise TimeoutError("no frame was composed after the rows arrived")
            await asyncio.sleep(0.001)
        return next(f for f in self.frames if f >= ready)

    async def timed(self, key: str, done: Callable[[], bool]) -> float:
        """Milliseconds from sending `key` to the first frame that shows what `done` waits for."""
        started = time.perf_counter()
        self.send(key)
        painted = await self.until(done)
        return (painted - started) * 1000


def _loaded(tab: Any, loads: int) -> Callable[[], bool]:
    """More windows applied than `loads`, and none on its way."""
    return lambda: bool(tab.loads > loads and tab.painted)


def _slid(tab: Any, offset: int) -> Callable[[], bool]:
    return lambda: bool(tab.window_offset > offset and tab.painted)


def _on_screen(table: Any) -> Callable[[], bool]:
    return lambda: bool(table.region.height > 0 and table.row_count > 0)


async def _measure(home: Home, actions: int) -> dict[str, Any]:
    from tui.app import KoppelaarApp
    from tui.screens.koppeling import KoppelingScreen
    from tui.widgets.foutmeldingen_tab import FoutmeldingenTab, ProblemTable

    app = KoppelaarApp(home, embedded_scheduler=False)
    app.animation_level = "none"
    tab_ms: list[float] = []
    refresh_ms: list[float] = []
    filter_ms: list[float] = []
    page_ms: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        clock = _Clock(app)
        await pilot.pause()
        for _ in range(actions):
            # From the Status tab of a freshly opened koppeling screen: 2, until the first page is painted.
            screen = KoppelingScreen("facturen", "status")
            await app.push_screen(screen)
            tab = screen.query_one(FoutmeldingenTab)
            await clock.until(_loaded(tab, 0), frame=False)  # the load when the screen opened
            await pilot.pause()
            loads = tab.loads
            table = tab.query_one(ProblemTable)
            started = time.perf_counter()
            clock.send("2")
            # The page is on screen as soon as the pane is laid out (rows loaded when the screen opened)…
            shown = await clock.until(_on_screen(table))
            tab_ms.append((shown - started) * 1000)
            # …and the store is read again as the tab is shown, in case a run changed something.
            refreshed = await clock.until(_loaded(tab, loads))
            refresh_ms.append((refreshed - started) * 1000)
            app.pop_screen()
            await pilot.pause()

        screen = KoppelingScreen("facturen", "foutmeldingen")
        await app.push_screen(screen)
        tab = screen.query_one(FoutmeldingenTab)
        table = tab.query_one(ProblemTable)
        await clock.until(lambda: tab.loads > 0 and tab.painted and table.row_count > 0, frame=False)
        await pilot.pause()

        # Filter keystrokes: type a query character by character (each one a new SQL query), clear it.
        await pilot.press("slash")
        words = ["btw", "F2025-01", "weigert", "7%", "Bakkerij"]
        while len(filter_ms) < actions:
            for word in words:
                for ch in word:
                    loads = tab.loads
                    filter_ms.append(await clock.timed(ch, _loaded(tab, loads)))
                await pilot.press(*["backspace"] * len(word))
                await clock.until(lambda: tab.filter_text == "" and tab.painted, frame=False)
                await pilot.pause()
        await pilot.press("escape")
        await clock.until(lambda: tab.painted and table.has_focus, frame=False)

        # Next window: the cursor on the row before the last loaded one, then down onto the last row
        # until the following rows are in the table.
        for _ in range(actions):
            table.move_cursor(row=table.row_count - 2)
            await pilot.pause()
            offset = tab.window_offset
            page_ms.append(await clock.timed("down", _slid(tab, offset)))
            await pilot.pause()
        window = table.row_count
        position = tab.window_offset
    return {
        "tab_to_first_page": _stats(tab_ms),
        "tab_to_refreshed": _stats(refresh_ms),
        "filter_keystroke": _stats(filter_ms),
        "next_page": _stats(page_ms),
        "rows_in_table": window,
        "window_offset_reached": position,
    }


def run(problems: int = PROBLEMS, actions: int = ACTIONS) -> dict[str, Any]:
    """Seed a home with `problems` foutmeldingen, drive the console, write and return the figures."""
    from tests.world import sandbox_world

    with tempfile.TemporaryDirectory() as tmp, sandbox_world(Path(tmp), api="rest", invoices=0) as world:
        started = time.perf_counter()
        seed_foutmeldingen(world.home.database, "facturen", problems)
        seeded = time.perf_counter() - started
        figures = asyncio.run(_measure(world.home, actions))
    result = {
        "benchmark": "foutmeldingen-latency",
        "problems": problems,
        "actions": actions,
        "goal_ms": GOAL_MS,
        "seed_seconds": round(seeded, 2),
        "terminal": "80x24 headless",
        "python": platform.python_version(),
        # The machine is shared: the 1-minute load average at the end says how contended the CPUs were.
        "load_average_1m": round(os.getloadavg()[0], 2),
        **figures,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "foutmeldingen-latency.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "foutmeldingen-latency.md").write_text(markdown(result) + "\n")
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"### Foutmeldingen tab latency ({result['problems']:,} foutmeldingen, goal < {result['goal_ms']:.0f} ms)",
        "",
        "| action | n | median ms | p95 ms | max ms | p95 under goal |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in (
        ("tab_to_first_page", "tab key → first page"),
        ("tab_to_refreshed", "tab key → page re-read from the store"),
        ("filter_keystroke", "filter keystroke → results"),
        ("next_page", "down on last row → next page"),
    ):
        s = result[key]
        lines.append(
            f"| {label} | {s['n']} | {s['median_ms']} | {s['p95_ms']} | {s['max_ms']} |"
            f" {'yes' if s['under_goal'] else 'no'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.foutmeldingen_latency")
    parser.add_argument("--problems", type=int, default=PROBLEMS)
    parser.add_argument("--actions", type=int, default=ACTIONS)
    args = parser.parse_args()
    result = run(args.problems, args.actions)
    print(markdown(result))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
