"""`koppelaar daemon`: hold the scheduler lease; run the nightly koppelingen and the console's requests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from state.config import load_settings
from state.home import Home
from state.store import Store
from sync.engine import RunReport
from sync.scheduler import RENEW_SECONDS, NightlyScheduler
from sync.service import run_koppeling

log = logging.getLogger("koppelaar.daemon")


async def serve(home: Home, stop: asyncio.Event | None = None, *, poll_seconds: float = 2.0) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    settings = load_settings(home.config)
    store = Store(home.database)

    async def run(name: str, trigger: str) -> RunReport:
        report = await run_koppeling(home, name, trigger=trigger)
        log.info("run %s (%s): %s %s", name, trigger, report.status.value, report.message)
        return report

    scheduler = NightlyScheduler(store, settings, run, role="daemon")
    next_renew = 0.0
    try:
        while not stop.is_set():
            if loop.time() >= next_renew:
                await scheduler.tick()
                next_renew = loop.time() + RENEW_SECONDS
            if scheduler.holding:
                for _, name, dry_run in store.claim_run_requests(scheduler.owner):
                    report = await run_koppeling(home, name, dry_run=dry_run, trigger="console")
                    log.info("requested run %s: %s", name, report.status.value)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
    finally:
        scheduler.shutdown()
        store.close()
