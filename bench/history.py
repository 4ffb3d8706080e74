"""A booked history of N invoices: simulators in their own process, and a first run that books them all.

Shared by benchmark 2 (the no-change run that follows) and benchmark 3 (peak memory of this first
run). The first run has no injected latency and no simulator rate limit; the koppeling's connection
allows HISTORY_RATE requests/second with at most HISTORY_MAX_CONCURRENCY in flight.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    RunResult,
    Sandbox,
    log,
    machine_busy_seconds,
    make_home,
    run_driver,
    wait_for_quiet,
    workdir,
)
from state.home import Home

HISTORY_RATE = 1000.0
HISTORY_MAX_CONCURRENCY = 8


@dataclass
class History:
    size: int
    workdir: Path
    sandbox: Sandbox
    home: Home  # REST
    first_run: RunResult
    first_run_eb_requests: int
    first_run_fs_requests: int
    sandbox_cpu_seconds: float
    other_cpu_seconds: float  # everything else on the machine during the first run
    setup_seconds: float


@contextmanager
def booked_history(size: int) -> Iterator[History]:
    started = time.monotonic()
    with workdir(f"history-{size}") as wd, Sandbox(size, workdir=wd) as sandbox:
        home = make_home(
            wd / "home-rest",
            sandbox,
            api="rest",
            rate_limit_per_second=HISTORY_RATE,
            max_concurrency=HISTORY_MAX_CONCURRENCY,
        )
        wait_for_quiet(max_wait=30)
        eb0, fs0 = sandbox.request_count("eboekhouden"), sandbox.request_count("factuursturen")
        cpu0, busy0 = sandbox.cpu_seconds(), machine_busy_seconds()
        log(f"history {size:,}: sandbox up in {sandbox.startup_seconds:.1f} s; first run books everything")
        first = run_driver(home, log_file=wd / "driver-first.log")
        sandbox_cpu, busy = sandbox.cpu_seconds() - cpu0, machine_busy_seconds() - busy0
        r = first.report
        log(
            f"history {size:,}: {r['booked']:,} booked, {r['skipped']:,} skipped in {r['run_seconds']:.1f} s,"
            f" peak RSS {first.peak_rss_kib / 1024:.1f} MiB, status {r['status']}"
        )
        yield History(
            size=size,
            workdir=wd,
            sandbox=sandbox,
            home=home,
            first_run=first,
            first_run_eb_requests=sandbox.request_count("eboekhouden") - eb0,
            first_run_fs_requests=sandbox.request_count("factuursturen") - fs0,
            sandbox_cpu_seconds=sandbox_cpu,
            other_cpu_seconds=max(0.0, busy - sandbox_cpu - first.cpu_seconds),
            setup_seconds=time.monotonic() - started,
        )
