"""Crash safety for Exact Online and Twinfield: `koppelaar run` (a real `python -m tui.cli` process) is
SIGKILLed at 20 points — by time (start-up, preflight, reconcile, fetch) and by create count, with lost
responses injected — then resumed: every invoice is booked exactly once, none is missing.

Twinfield is booked in batches (up to 25 transactions per ProcessXml call), so a kill by count lands
right after a batch was committed by Twinfield and before the client has read the answer."""

from __future__ import annotations

import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.sync.test_crash import KILLS, start_run, wait_until
from tests.world import EXACT_SALES_ENTRIES, TWINFIELD_PROCESSXML, World, sandbox_world


def sending(world: World) -> int:
    """Rows marked SENDING in the koppeling's outbox: a batch is on its way (or its answer is)."""
    with sqlite3.connect(f"file:{world.home.database}?mode=ro", uri=True, timeout=5) as db:
        return int(db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'SENDING'").fetchone()[0])


def creates(world: World) -> int:
    if world.target == "exact":
        return world.ex.request_count(method="POST", path_prefix=EXACT_SALES_ENTRIES)
    return len(world.twf.transactions())  # a batch lands at once: count what Twinfield committed


@pytest.mark.slow
@pytest.mark.parametrize("target", ["exact", "twinfield"])
def test_killed_runs_resume_without_losing_or_doubling_a_booking(tmp_path: Path, target: str) -> None:
    rng = random.Random(2026 + len(target))
    invoices = 120 if target == "exact" else 100
    started = time.monotonic()
    with sandbox_world(
        tmp_path,
        target="exact" if target == "exact" else "twinfield",
        invoices=invoices,
        data_seed=11,
        rate_limit_per_second=40.0,
        max_concurrency=4,
    ) as world:
        sim = world.ex if target == "exact" else world.twf
        path = EXACT_SALES_ENTRIES if target == "exact" else TWINFIELD_PROCESSXML
        # Creates take a while, so kills land with requests in flight; some responses get lost too
        # (on Twinfield also some reads: those are simply read again).
        sim.faults.add(method="POST", path=path, kind="latency", ms=40 if target == "exact" else 50)
        sim.faults.add(
            method="POST", path=path, kind="lost_response", every_nth=9 if target == "exact" else 7
        )
        # Twinfield: right after the next batch is committed, before the client has read the answer.
        step = 6 if target == "exact" else 1
        late = 1.5 if target == "exact" else 3.0  # Twinfield runs spend longer in preflight/reconcile

        kill_points: list[str] = []
        killed = 0
        for attempt in range(KILLS):
            proc = start_run(world)
            if attempt % 3 == 0:
                delay = rng.uniform(0.05, late)
                wait_until(lambda: False, proc, time.monotonic() + delay)
                kill_points.append(f"t+{delay:.2f}s")
            elif target == "twinfield" and attempt % 3 == 1:
                # While a batch is in flight: its rows are SENDING, Twinfield may or may not have it yet.
                wait_until(lambda: sending(world) > 0, proc, time.monotonic() + 30)
                kill_points.append("batch in flight")
            else:
                goal = creates(world) + rng.randint(1, step)
                wait_until(lambda: creates(world) >= goal, proc, time.monotonic() + 30)  # noqa: B023
                kill_points.append(f"create #{goal}")
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
            proc.wait(timeout=30)
        booked_before_resume = world.booking_count()
        assert killed >= KILLS // 2, f"only {killed} runs were still running when killed: {kill_points}"

        sim.faults.clear()
        final = start_run(world)
        _, stderr = final.communicate(timeout=120)
        assert final.returncode in (0, 1), stderr.decode()
        if final.returncode == 1:  # a lost response left a row uncertain: the next run settles it
            assert start_run(world).wait(timeout=120) == 0

        booked = world.bookings_per_invoice()
        doubled = {number: n for number, n in booked.items() if n > 1}
        assert doubled == {}, f"booked twice after kills at {kill_points}"
        assert set(booked) == world.bookable_invoice_numbers(), f"missing after kills at {kill_points}"
        print(
            f"{target}: {killed}/{KILLS} runs killed, {booked_before_resume} of {len(booked)} booked before the"
            f" resume, {sim.request_count()} requests, {time.monotonic() - started:.0f} s"
        )
