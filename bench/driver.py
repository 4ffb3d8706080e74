"""``python -m bench.driver HOME [--trace] [--profile FILE]``: one run of koppeling 'facturen', figures as one JSON line.

What `koppelaar run facturen` does (sync.service.run_koppeling), plus timing. With ``--trace`` it also
records the booking progress over time and every decision of the engine's ConcurrencyGovernor (a
subclass that only watches; it changes nothing the engine decides).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from state.home import Home
from sync import engine
from sync.engine import Progress, RunReport
from sync.service import run_koppeling

T0 = time.monotonic()
GOVERNOR: list[dict[str, Any]] = []


def _trace_governor() -> None:
    """Record each ≥1 s window of the governor: its achieved rate and the limit before and after."""
    base = engine.ConcurrencyGovernor

    class Watched(base):  # type: ignore[misc, valid-type]
        async def __aexit__(self, *exc: object) -> None:
            before, window = self.limit, getattr(self, "_window_start", None)
            done = getattr(self, "_window_done", 0) + 1
            await super().__aexit__(*exc)
            if window is not None and getattr(self, "_window_start", None) != window:
                elapsed = time.monotonic() - window
                GOVERNOR.append(
                    {
                        "t": round(time.monotonic() - T0, 2),
                        "achieved_per_s": round(done / elapsed, 1) if elapsed > 0 else None,
                        "limit_before": before,
                        "limit_after": self.limit,
                    }
                )

        async def throttled(self) -> None:
            before = self.limit
            await super().throttled()
            GOVERNOR.append(
                {"t": round(time.monotonic() - T0, 2), "throttled": True, "limit_before": before}
                | {"limit_after": self.limit}
            )

    engine.ConcurrencyGovernor = Watched  # type: ignore[misc]


async def _loop_lag(samples: list[tuple[float, float]], period: float = 0.05) -> None:
    """The worst event-loop delay per second: how long ready callbacks wait behind blocking work."""
    worst, window = 0.0, time.monotonic()
    while True:
        before = time.monotonic()
        await asyncio.sleep(period)
        worst = max(worst, time.monotonic() - before - period)
        if time.monotonic() - window >= 1.0:
            samples.append((round(time.monotonic() - T0, 1), round(worst * 1000, 1)))
            worst, window = 0.0, time.monotonic()


async def _run(home: Home, name: str, trace: bool, lag: list[tuple[float, float]]) -> RunReport:
    timeline = TIMELINE
    last = [0.0]

    def on_progress(p: Progress) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.25:
            last[0] = now
            timeline.append((round(now - T0, 2), p.fetched, p.booked + p.skipped + p.failed + p.parked))

    if not trace:
        return await run_koppeling(home, name)
    monitor = asyncio.create_task(_loop_lag(lag))
    try:
        return await run_koppeling(home, name, on_progress=on_progress)
    finally:
        monitor.cancel()


TIMELINE: list[tuple[float, int, int]] = []


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.driver")
    parser.add_argument("home", type=Path)
    parser.add_argument("--koppeling", default="facturen")
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--profile", type=Path, help="write cProfile statistics of the run here")
    args = parser.parse_args()
    if args.trace:
        _trace_governor()
    lag: list[tuple[float, float]] = []
    global T0
    T0 = time.monotonic()  # every time in the output counts from the start of the run
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    report = asyncio.run(_run(Home(args.home), args.koppeling, args.trace, lag))
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    wall = time.monotonic() - T0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    p = report.progress
    out: dict[str, Any] = {
        "status": report.status.value,
        "message": report.message,
        "fetched": p.fetched,
        "booked": p.booked,
        "skipped": p.skipped,
        "failed": p.failed,
        "parked": p.parked,
        "uncertain": p.uncertain,
        "concurrency": p.concurrency,
        "run_seconds": round(wall, 3),
        "run_cpu_seconds": round(cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime, 3),
        "problems": report.problems[:10],
    }
    if args.trace:
        out["timeline"] = TIMELINE  # (s, fetched, done: booked + skipped + failed)
        out["booked_timeline"] = [(t, done) for t, _, done in TIMELINE]  # (s, done), as bench.targets reads
        out["loop_lag_ms"] = lag  # (s, worst event-loop delay in the second before)
        out["governor"] = GOVERNOR
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
