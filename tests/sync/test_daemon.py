"""`koppelaar daemon`: it takes the scheduler lease and runs what the console asks for."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from state.store import Store
from sync.daemon import SettingsFile, serve
from sync.scheduler import LEASE
from tests.world import sandbox_world


async def test_the_daemon_holds_the_lease_and_runs_a_requested_koppeling(tmp_path: Path) -> None:
    with sandbox_world(tmp_path, api="rest", invoices=5) as world:
        store = Store(world.home.database)
        store.request_run("facturen", dry_run=False, requested_by="console:support")
        stop = asyncio.Event()
        daemon = asyncio.create_task(serve(world.home, stop, poll_seconds=0.05))

        async def booked() -> None:
            while len(world.eb.mutations) < len(world.bookable_invoice_numbers()):
                await asyncio.sleep(0.02)

        await asyncio.wait_for(booked(), timeout=30)
        lease = store.lease(LEASE)
        assert lease is not None and lease.owner.startswith("daemon:")
        stop.set()
        await asyncio.wait_for(daemon, timeout=10)

        assert store.lease(LEASE) is None  # released on a clean stop
        [run] = store.runs("facturen")
        assert (run.trigger, run.status) == ("console", "ok")


def test_the_daemon_reads_koppelaar_toml_again_when_it_changes_and_keeps_the_last_good_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with sandbox_world(tmp_path, api="rest", invoices=0) as world:
        config = SettingsFile(world.home.config)
        assert config.current().koppelingen["facturen"].schedule == "15 3 * * *"

        text = world.home.config.read_text(encoding="utf-8")
        world.home.config.write_text(text.replace("15 3 * * *", "45 4 * * *"), encoding="utf-8")
        assert config.current().koppelingen["facturen"].schedule == "45 4 * * *"

        broken = text.replace("15 3 * * *", "45 4 * * *") + "\n[koppelingen.facturen\n"
        world.home.config.write_text(broken, encoding="utf-8")
        with caplog.at_level(logging.ERROR, logger="koppelaar.daemon"):
            assert config.current().koppelingen["facturen"].schedule == "45 4 * * *"
        assert "vorige instellingen blijven gelden" in caplog.text and "koppelaar.toml" in caplog.text
        assert world.home.config.read_text(encoding="utf-8") == broken  # never overwritten

        caplog.clear()
        world.home.config.write_text("x = " + "[" * 600 + "]" * 600 + "\n" + text, encoding="utf-8")
        with caplog.at_level(logging.ERROR, logger="koppelaar.daemon"):
            assert config.current().koppelingen["facturen"].schedule == "45 4 * * *"
        [line] = caplog.text.strip().splitlines()  # one line, no traceback
        assert "niet opnieuw gelezen" in line and "te diep genest" in line

        world.home.config.unlink()  # an editor that saves by moving the old file away first
        assert config.current().koppelingen["facturen"].schedule == "45 4 * * *"
