"""`koppelaar daemon`: hold the scheduler lease; run the nightly koppelingen and the console's requests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from state.config import ConfigError, load_settings
from state.home import Home
from state.settings import Settings
from state.store import Store
from sync.engine import RunReport
from sync.scheduler import RENEW_SECONDS, NightlyScheduler
from sync.service import run_koppeling

log = logging.getLogger("koppelaar.daemon")


class SettingsFile:
    """koppelaar.toml as the daemon last read it, read again when it changes on disk (an edit in the
    console or by hand). A file that no longer reads keeps the settings that did, and says why."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = self._stat()
        self.settings = load_settings(path)

    def _stat(self) -> tuple[int, int]:
        info = self.path.stat()
        return info.st_mtime_ns, info.st_size

    def current(self) -> Settings:
        try:
            stamp = self._stat()
            if stamp != self._stamp:
                self._stamp = stamp
                self.settings = load_settings(self.path)
                log.info("koppelaar.toml opnieuw gelezen: de planning volgt de nieuwe instellingen")
        except (ConfigError, OSError) as exc:
            # Also a file that is briefly gone: some editors save by moving the old one away first.
            log.error("koppelaar.toml niet opnieuw gelezen, de vorige instellingen blijven gelden: %s", exc)
        return self.settings


async def serve(home: Home, stop: asyncio.Event | None = None, *, poll_seconds: float = 2.0) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    config = SettingsFile(home.config)
    store = Store(home.database)

    async def run(name: str, trigger: str) -> RunReport:
        report = await run_koppeling(home, name, trigger=trigger)
        log.info("run %s (%s): %s %s", name, trigger, report.status.value, report.message)
        return report

    scheduler = NightlyScheduler(store, config.settings, run, role="daemon", reload=config.current)
    next_renew = 0.0
    try:
        while not stop.is_set():
            if loop.time() >= next_renew:
                try:
                    await scheduler.tick()
                except Exception:  # a locked database, say: the next tick tries again, the daemon stays
                    log.exception("planner: ronde mislukt, over %.0f s opnieuw", RENEW_SECONDS)
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
