"""Shared fixtures for the console tests: a sandbox world with a history, an app factory, screen text.

Console tests drive KoppelaarApp with Textual's pilot against the sandbox simulators over real HTTP.
The machine is a loaded 2-core box, so nothing here assumes timing: `wait_until` polls a condition with
a generous bound and fails with a message that says what never happened.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot

from tests.world import World, sandbox_world
from tui.app import KoppelaarApp

# Subprocesses (the tmux test) and any App constructed before a fixture runs: no animations.
os.environ["TEXTUAL_ANIMATIONS"] = "none"

SIZE = (80, 24)  # an admin over SSH: the console must be usable at this size
THEME = "textual-dark"
WAIT_SECONDS = 60.0  # a bound, not an expectation: conditions usually hold within a fraction of a second

# A customer whose invoices carry 7% VAT: no such VAT code is mapped, so its invoice is parked with a
# foutmelding (the realistic "something failed last night" a support person opens the console for).
DEFECT_CLIENT = "Drukkerij Van Dam B.V."


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """Koppeling 'facturen' (FactuurSturen → e-Boekhouden REST) after two runs: the first books 8
    invoices, the second parks one invoice with an unmapped 7% VAT rate (one open foutmelding)."""
    with sandbox_world(tmp_path, api="rest", invoices=8) as w:
        first = await w.run()
        assert first.progress.booked > 0, first.message
        client = w.fs.add_client(DEFECT_CLIENT).clientnr
        w.fs.add_invoice(client, [(1, "250.00", 7, "Drukwerk folders")], sent="2026-01-20")
        second = await w.run()
        assert second.progress.failed + second.progress.parked >= 1, second.message
        yield w


AppFactory = Callable[..., KoppelaarApp]


@pytest.fixture
def make_app(world: World) -> AppFactory:
    """`make_app(read_only=..., language=...)`: a console for the world's home that never schedules
    runs itself (a test decides when something runs), with a fixed theme and no animations."""

    def factory(**kwargs: Any) -> KoppelaarApp:
        return new_app(world, **kwargs)

    return factory


def new_app(world: World, **kwargs: Any) -> KoppelaarApp:
    kwargs.setdefault("embedded_scheduler", False)
    app = KoppelaarApp(world.home, **kwargs)
    app.animation_level = "none"
    app.theme = THEME
    return app


async def wait_until(
    pilot: Pilot[Any], condition: Callable[[], object], what: str, timeout: float = WAIT_SECONDS
) -> None:
    """Let the app work until `condition()` is truthy; fail saying `what` did not happen in time."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        await pilot.pause(0.05)


def screen_text(app: KoppelaarApp) -> str:
    """The screen as a person sees it, as plain text (the same render `export_screenshot` records)."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


async def wait_for_text(pilot: Pilot[Any], text: str, timeout: float = WAIT_SECONDS) -> str:
    """Wait until `text` is on the screen; returns the screen."""
    app = pilot.app
    assert isinstance(app, KoppelaarApp)
    await wait_until(pilot, lambda: text in screen_text(app), f"{text!r} on screen", timeout)
    return screen_text(app)


def screen_words(app: KoppelaarApp) -> str:
    """The screen's words in reading order, whitespace collapsed and toast edges dropped: a message
    wrapped over two lines of a toast (run_test(notifications=True)) still reads as one sentence."""
    return " ".join(screen_text(app).replace("▌", " ").replace("▐", " ").split())


async def wait_for_words(pilot: Pilot[Any], text: str, timeout: float = WAIT_SECONDS) -> None:
    app = pilot.app
    assert isinstance(app, KoppelaarApp)
    await wait_until(pilot, lambda: text in screen_words(app), f"{text!r} on screen", timeout)
