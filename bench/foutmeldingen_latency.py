"""Latency of the Foutmeldingen tab with 100,000 foutmeldingen in koppelaar.db.

The console is driven headless (``App.run_test``) over a sandbox home whose store holds
100,000 grouped problems (inserted directly, not by 100,000 runs). Three actions are timed, each from the
key press until the table shows what the action asked for:

- **tab**: pressing ``2`` on the koppeling screen until the first page is painted;
- **filter**: one keystroke in the ``/`` filter until the table shows the matching page;
- **next page**: ``down`` on the last row of the loaded window until the next rows are in the table.

Goal: under 200 ms per action. Reported: median and p95 over ~20 actions each. Nothing is asserted.

``.venv/bin/python -m bench.foutmeldingen_latency [--problems 100000] [--actions 20]``;
from bench/run_all.py: ``bench.foutmeldingen_latency.run(problems=..., actions=...)`` returns the figures
as a dict and writes bench/results/foutmeldingen-latency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
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


async def _until(
    predicate: Callable[[], bool], pause: Callable[[], Awaitable[None]], limit: float = 30.0
) -> None:
    """Let the app process messages until the predicate holds (what the user would see)."""
    deadline = time.perf_counter() + limit
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the table did not show the expected rows in time")
        await pause()


async def _measure(home: Home, actions: int) -> dict[str, Any]:
    from textual.widgets import DataTable

    from tui.app import KoppelaarApp
    from tui.screens.koppeling import KoppelingScreen
    from tui.widgets.foutmeldingen_tab import FoutmeldingenTab

    app = KoppelaarApp(home, embedded_scheduler=False)
    tab_ms: list[float] = []
    filter_ms: list[float] = []
    page_ms: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:

        async def pause() -> None:
            await pilot.pause(0.001)

        await pilot.pause()
        for _ in range(actions):
            # Tab key: from the Status tab of a freshly opened koppeling screen to the first page painted.
            screen = KoppelingScreen("facturen", "status")
            await app.push_screen(screen)
            await pilot.pause()
            tab = screen.query_one(FoutmeldingenTab)
            await _until(lambda: tab.loads > 0, pause)  # the mount-time load (tab label count) is done
            before = tab.loads
            started = time.perf_counter()
            await pilot.press("2")
            await _until(lambda: tab.loads > before and tab.painted, pause)
            tab_ms.append((time.perf_counter() - started) * 1000)
            app.pop_screen()
            await pilot.pause()

        screen = KoppelingScreen("facturen", "foutmeldingen")
        await app.push_screen(screen)
        tab = screen.query_one(FoutmeldingenTab)
        table = tab.query_one(DataTable)
        await _until(lambda: tab.loads > 0 and table.row_count > 0, pause)

        # Filter keystrokes: type a query character by character, then clear it, repeatedly.
        await pilot.press("slash")
        words = ["btw", "F2025-0", "weigert", "7%", "bron"]
        typed = 0
        while typed < actions:
            for word in words:
                for ch in word:
                    before = tab.loads
                    started = time.perf_counter()
                    await pilot.press(ch)
                    await _until(lambda: tab.loads > before and tab.painted, pause)
                    filter_ms.append((time.perf_counter() - started) * 1000)
                    typed += 1
                for _ in word:
                    await pilot.press("backspace")
                await _until(lambda: tab.filter_text == "" and tab.painted, pause)
                if typed >= actions:
                    break
        await pilot.press("escape")
        await _until(lambda: tab.painted and table.has_focus, pause)

        # Next page: the cursor on the last loaded row, then down.
        for _ in range(actions):
            table.move_cursor(row=table.row_count - 1)
            await _until(lambda: tab.painted, pause)
            before = tab.window_offset
            started = time.perf_counter()
            await pilot.press("down")
            await _until(lambda: tab.window_offset > before and tab.painted, pause)
            page_ms.append((time.perf_counter() - started) * 1000)
        window = table.row_count
    return {
        "tab_to_first_page": _stats(tab_ms),
        "filter_keystroke": _stats(filter_ms),
        "next_page": _stats(page_ms),
        "rows_in_table": window,
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
        **figures,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "foutmeldingen-latency.json").write_text(json.dumps(result, indent=2) + "\n")
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
