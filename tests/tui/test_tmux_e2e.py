"""End to end in a real terminal: `koppelaar console` under tmux at 80x24, typed at like a person,
read back with capture-pane. Catches what the pilot cannot: the entry point, terminal set-up, keys
arriving as escape sequences, and what is actually drawn."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tui.conftest import WAIT_SECONDS
from tests.world import World

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed: no real terminal to drive"
    ),
]


class Terminal:
    """One tmux server of its own (its own socket), so the test never touches anyone else's sessions."""

    def __init__(self) -> None:
        self.socket = f"koppelaar-test-{uuid.uuid4().hex[:8]}"

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30, check=True
        )
        return done.stdout

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-s", "console", "-x", "80", "-y", "24", command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "console")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "console", *keys)

    async def wait_for(self, text: str, timeout: float = WAIT_SECONDS, *, footer: bool = False) -> str:
        """Poll the screen until `text` shows (in the footer line only, with footer=True); fail with
        the last screen when it never does."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            lines = screen.rstrip("\n").splitlines()
            if text in ((lines[-1] if lines else "") if footer else screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen within {timeout:.0f}s; the screen:\n{screen}")
            await asyncio.sleep(0.1)  # the poll interval, not a wait for something to happen

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal()
    try:
        yield term
    finally:
        term.close()


async def test_an_admin_opens_the_console_looks_around_and_dry_runs(world: World, terminal: Terminal) -> None:
    env = f"TEXTUAL_ANIMATIONS=none PYTHONPATH={ROOT}"
    console = f"{sys.executable} -m tui.cli --home {world.home.root} console"
    # The shell prints the exit code and stays, so the end of the program can be read off the screen too.
    terminal.start(f"cd {ROOT} && env {env} {console}; echo EXIT=$?; sleep 600")

    overview = await terminal.wait_for("deels 0/1")
    assert "Koppelaar" in overview and "Planner" in overview
    for column in ("Koppeling", "Status", "Laatste run", "Volgende", "Fouten", "Niet gek."):
        assert column in overview, overview

    terminal.keys("Enter")  # open the koppeling
    status = await terminal.wait_for("Doel boekhouding: Verbonden met e-Boekhouden")
    assert "Nu synchroniseren (n)" in status and "Opnieuw verbinden (v)" in status

    terminal.keys("4")  # Runs tab: the parked invoice of the last run
    await terminal.wait_for("Onbekend btw-tarief 7%")
    # The footer follows the focus (and is redrawn last): it tells when the next key reaches the tab.
    await terminal.wait_for("esc Terug", footer=True)

    bookings = len(world.eb.mutations)
    terminal.keys("1")
    await terminal.wait_for("d Dry-run", footer=True)
    terminal.keys("d")  # dry-run: shows, books nothing
    await terminal.wait_for("Dry-run: ok")
    assert len(world.eb.mutations) == bookings

    terminal.keys("Escape")
    await terminal.wait_for("Niet gek.")  # back on the overview
    terminal.keys("q")
    await terminal.wait_for("EXIT=0")


def test_the_terminal_helper_never_uses_the_default_tmux_server() -> None:
    # Other people's tmux sessions on this machine must be safe from the test's kill-server.
    assert Terminal().socket != Terminal().socket
