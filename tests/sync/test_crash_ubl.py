"""Crash safety for the UBL inbox: `koppelaar run` (a real process) reading a folder of e-invoices into
e-Boekhouden (REST) is SIGKILLed at 20 points — by time (start-up, reading, moving files) and by create
count, with lost responses injected — then resumed. Every invoice is booked once, every file is archived
(or quarantined) exactly once with its bytes intact, nothing is left in the inbox and no file half-moved."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.ubl.inbox import ARCHIVE, QUARANTINE, REASON_SUFFIX
from sandbox import ubl as b
from tests.connectors.test_ubl_inbox import add_inbox_koppeling
from tests.sync.test_crash import KILLS, create_requests, wait_until
from tests.world import World, sandbox_world

DOCUMENTS = 110


def start_run(world: World) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "--home", str(world.home.root), "run", "inkoop"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def unsettled(world: World) -> int:
    """Outbox rows whose fate is not yet known (a lost response): the next run looks them up."""
    with sqlite3.connect(f"file:{world.home.database}?mode=ro", uri=True, timeout=5) as db:
        query = "SELECT COUNT(*) FROM outbox WHERE state IN ('SENDING', 'UNKNOWN', 'PENDING')"
        return int(db.execute(query).fetchone()[0])


def fill_inbox(inbox: Path) -> tuple[dict[str, bytes], set[str], set[str]]:
    """The files dropped (name → bytes), the invoice numbers to book, the files that must be refused."""
    dropped: dict[str, bytes] = {}
    numbers: set[str] = set()
    for i in range(DOCUMENTS):
        number = f"DV-2026-{i:04d}" if i % 3 else f"F2026/{i:04d}"
        doc = b.nl_21_9(number) if i % 3 else b.be_nl_reverse_charge(number)
        dropped[f"factuur-{i:04d}.xml"] = b.build(doc)
        numbers.add(number)
    # The same invoice dropped a second time (an access point that delivered twice).
    dropped["factuur-0007-nogmaals.xml"] = dropped["factuur-0007.xml"]
    dropped["factuur-0060-nogmaals.xml"] = dropped["factuur-0060.xml"]
    refused = {"scheef-1.xml", "scheef-2.xml", "scan.pdf"}
    for n, name in enumerate(("scheef-1.xml", "scheef-2.xml"), 1):
        spoilt = b.nl_21_9(f"DV-2026-9{n:03d}", spoil={"TaxInclusiveAmount": Decimal("0.0" + str(n))})
        dropped[name] = b.build(spoilt)
    dropped["scan.pdf"] = b"%PDF-1.4 a scanned purchase invoice"
    for name, data in dropped.items():
        (inbox / name).write_bytes(data)
    return dropped, numbers, refused


@pytest.mark.slow
def test_killed_runs_book_every_document_once_and_move_every_file_once(tmp_path: Path) -> None:
    rng = random.Random(2611)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with sandbox_world(tmp_path, api="rest", invoices=0) as world:
        add_inbox_koppeling(world, inbox, "eboekhouden")
        dropped, numbers, refused = fill_inbox(inbox)
        world.eb.faults.add(method="POST", path="/v1/mutation", kind="latency", ms=40)
        world.eb.faults.add(method="POST", path="/v1/mutation", kind="lost_response", every_nth=9)

        kill_points: list[str] = []
        killed = 0
        for attempt in range(KILLS):
            proc = start_run(world)
            if attempt % 3 == 0:
                # Kill at a moment, not a count: start-up, preflight, reading, or moving files.
                delay = rng.uniform(0.05, 1.5)
                wait_until(lambda: False, proc, time.monotonic() + delay)
                kill_points.append(f"t+{delay:.2f}s")
            else:
                target = create_requests(world) + rng.randint(1, 6)
                wait_until(lambda: create_requests(world) >= target, proc, time.monotonic() + 30)  # noqa: B023
                kill_points.append(f"create #{target}")
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
            proc.wait(timeout=30)
        assert killed >= KILLS - 2, f"only {killed} runs were still running when killed: {kill_points}"
        assert len(world.eb.mutations) < len(numbers), "the kills came too late"

        world.eb.faults.clear()
        for _ in range(3):  # a lost response leaves a row uncertain: the next run settles it
            final = start_run(world)
            _, stderr = final.communicate(timeout=120)
            assert final.returncode in (0, 1), stderr.decode()
            if unsettled(world) == 0:
                break

        booked = world.bookings_per_invoice()
        doubled = {number: n for number, n in booked.items() if n > 1}
        assert doubled == {}, f"booked twice after kills at {kill_points}"
        assert set(booked) == numbers, f"missing after kills at {kill_points}"

        # Every file moved exactly once, whole: nothing left in the inbox, no scratch or half-written file.
        assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == []
        archived = [p for p in (inbox / ARCHIVE).rglob("*") if p.is_file()]
        quarantined = [p for p in (inbox / QUARANTINE).iterdir() if p.is_file()]
        names = Counter(p.name for p in archived + quarantined if not p.name.endswith(REASON_SUFFIX))
        assert names == Counter(list(dropped)), f"moved files differ after kills at {kill_points}"
        assert {p.name for p in quarantined} == refused | {name + REASON_SUFFIX for name in refused}
        for path in archived + quarantined:
            if not path.name.endswith(REASON_SUFFIX):
                assert path.read_bytes() == dropped[path.name], f"{path} changed"
