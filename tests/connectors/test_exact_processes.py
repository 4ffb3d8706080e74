"""Rotating refresh tokens across real processes: two Koppelaar processes refreshing at once never lose
access; a process killed between receiving a new pair and storing it leaves the connection in
"Herautorisatie nodig", said plainly, never a silent failure."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.exact import SPEC, ExactOAuth
from sandbox._util import FakeClock
from sandbox.exact import ExactSim
from sandbox.server import SandboxServer
from state.tokens import TokenVault
from tests.connectors.exact_worker import CLIENT_ID, CLIENT_SECRET, CONNECTION, REDIRECT_URI

KEY = os.urandom(32)
ROUNDS = 4
EXACT_IDLE_EXPIRY = SPEC.oauth.refresh_idle_expiry if SPEC.oauth else None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> ExactSim:
    s = ExactSim(clock=clock, filler_gl=0)
    s.add_app(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)
    return s


@pytest.fixture
def url(sim: ExactSim, clock: FakeClock, tmp_path: Path) -> Iterator[str]:
    with SandboxServer(exact=sim) as server:
        base = server.url_for("exact")

        async def connect() -> None:
            oauth = ExactOAuth(CLIENT_ID, SecretStr(CLIENT_SECRET), REDIRECT_URI, base_url=base)
            tokens = await oauth.exchange_code(sim.authorize(CLIENT_ID, REDIRECT_URI))
            await oauth.aclose()
            vault = TokenVault(tmp_path / "koppelaar.db", KEY, clock=clock)
            vault.store_initial(CONNECTION, tokens, host=base, idle_expiry=EXACT_IDLE_EXPIRY)
            vault.close()

        asyncio.run(connect())
        yield base


def start(tmp_path: Path, url: str, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.connectors.exact_worker",
            "--db",
            str(tmp_path / "koppelaar.db"),
            "--url",
            url,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "KOPPELAAR_TEST_TOKEN_KEY": KEY.hex(), "PYTHONUNBUFFERED": "1"},
    )


def finish(proc: subprocess.Popen[bytes]) -> tuple[int, dict[str, object]]:
    out, err = proc.communicate(timeout=60)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert lines, err.decode()
    return proc.returncode, lines[-1]


@pytest.mark.slow
def test_two_processes_refreshing_at_once_never_lose_access(
    sim: ExactSim, clock: FakeClock, url: str, tmp_path: Path
) -> None:
    # A slow token endpoint, so the second process arrives while the first is refreshing.
    sim.faults.add("latency", method="POST", path="/api/oauth2/token", ms=1200)
    contended = 0
    for round_ in range(1, ROUNDS + 1):
        clock.advance(580)  # both see the token inside Exact's refresh window
        procs = [start(tmp_path, url), start(tmp_path, url)]
        outcomes = [finish(p) for p in procs]
        assert [code for code, _ in outcomes] == [0, 0], outcomes
        assert all(o["health"] == "ok" for _, o in outcomes)
        assert outcomes[0][1]["token"] == outcomes[1][1]["token"], "both use the one new access token"
        assert sum(int(str(o["refreshes"])) for _, o in outcomes) == 1, "exactly one process refreshed"
        assert sim.refreshes("ok") == round_
        contended += any(int(str(o["lease_waits"])) > 0 for _, o in outcomes)
    assert contended >= 1, "the processes never overlapped: the test proved nothing"
    assert sim.refreshes() == ROUNDS  # never an old refresh token, never a refused one


@pytest.mark.slow
def test_killed_between_receiving_and_storing_a_pair_needs_reauthorization(
    sim: ExactSim, clock: FakeClock, url: str, tmp_path: Path
) -> None:
    clock.advance(580)
    code, last = finish(start(tmp_path, url, "--kill-before-persist"))
    assert code == -9 and last == {"event": "killing", "pid": last["pid"]}
    assert sim.refreshes("ok") == 1  # Exact rotated: the new pair died with the process

    # The next process presents the old refresh token: refused, nobody else rotated it, so it says so.
    code, last = finish(start(tmp_path, url))
    assert code == 3, last
    assert "Herautorisatie nodig" in str(last["message"])
    assert sim.refreshes("invalid_grant") == 1
    vault = TokenVault(tmp_path / "koppelaar.db", KEY, clock=clock)
    status = vault.status(CONNECTION)
    assert status is not None and status.state == "needs_reauth" and "Old refresh token used" in status.reason
    vault.close()

    # And it stays that way without hammering Exact: no further token requests until re-authorized.
    code, _ = finish(start(tmp_path, url))
    assert code == 3 and sim.refreshes() == 2
