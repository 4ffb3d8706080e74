"""Crash safety for AccountView: `koppelaar run` (a real `python -m tui.cli` process) is SIGKILLed at 20
points — by time (start-up, preflight, reconcile, fetch) and by the number of journal pages posted, with
lost responses injected — then resumed: every invoice is booked exactly once, none is missing.

A page number is ours (derived from the outbox reference), so a page that landed before the kill is both
found by the lookup and refused by AccountView as one that exists: never a second page."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from tests.sync.test_crash import KILLS, start_run, wait_until
from tests.world import ACCOUNTVIEW_DATA, World, sandbox_world


def pages_posted(world: World) -> int:
    return sum(1 for r in world.av.request_log if r.method == "POST" and r.action == "DJ2")


@pytest.mark.slow
def test_killed_runs_resume_without_losing_or_doubling_a_booking(tmp_path: Path) -> None:
    rng = random.Random(2026)
    started = time.monotonic()
    with sandbox_world(
        tmp_path,
        target="accountview",
        invoices=120,
        data_seed=13,
        rate_limit_per_second=40.0,
        max_concurrency=4,
    ) as world:
        sim = world.av
        # Pages take a while, so kills land with requests in flight; some responses get lost too.
        sim.faults.add(method="POST", path=ACCOUNTVIEW_DATA, action="DJ2", kind="latency", ms=40)
        sim.faults.add(method="POST", path=ACCOUNTVIEW_DATA, action="DJ2", kind="lost_response", every_nth=9)

        kill_points: list[str] = []
        killed = 0
        for attempt in range(KILLS):
            proc = start_run(world)
            if attempt % 3 == 0:
                delay = rng.uniform(0.05, 1.5)
                wait_until(lambda: False, proc, time.monotonic() + delay)
                kill_points.append(f"t+{delay:.2f}s")
            else:
                goal = pages_posted(world) + rng.randint(1, 6)
                wait_until(lambda: pages_posted(world) >= goal, proc, time.monotonic() + 30)  # noqa: B023
                kill_points.append(f"page #{goal}")
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
            f"accountview: {killed}/{KILLS} runs killed, {booked_before_resume} of {len(booked)} booked before"
            f" the resume, {sim.request_count()} requests, {time.monotonic() - started:.0f} s"
        )
