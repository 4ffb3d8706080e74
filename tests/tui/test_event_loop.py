"""The console never waits on the secret store, SQLite or koppelaar.toml on its event loop: a slow
keyring, a locked database or a slow disk would freeze every key. Each is watched where the workspace
reaches it, while an admin goes through every tab and changes things."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pydantic import SecretStr

from state.config import ConfigFile
from state.secrets import SecretStore
from state.settings import Settings
from state.store import Store
from tests.tui.conftest import SIZE, AppFactory, screen_text, wait_for_text, wait_until
from tests.world import World
from tui.screens.overview import OverviewScreen
from tui.widgets.mapping_tab import MappingPicker, MappingTab


class Watch:
    """Who touched what, on the event loop's thread or another."""

    def __init__(self) -> None:
        self.loop_thread = threading.get_ident()  # the test runs the app on its own loop
        self.on_loop: list[str] = []
        self.off_loop: set[str] = set()

    def note(self, what: str) -> None:
        if threading.get_ident() == self.loop_thread:
            self.on_loop.append(what)
        else:
            self.off_loop.add(what.split(" ")[0])


class WatchedSecrets:
    def __init__(self, inner: SecretStore, watch: Watch) -> None:
        self.inner, self.watch = inner, watch

    def get(self, name: str) -> SecretStr | None:
        self.watch.note(f"secret {name}")  # the name, never the value
        return self.inner.get(name)

    def set(self, name: str, value: SecretStr) -> None:
        self.watch.note(f"secret {name} (set)")
        self.inner.set(name, value)

    def delete(self, name: str) -> None:
        self.watch.note(f"secret {name} (delete)")
        self.inner.delete(name)


async def test_every_tab_reads_and_writes_off_the_event_loop(
    world: World, make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = Watch()
    app = make_app()
    workspace = app.workspace
    monkeypatch.setattr(workspace, "secrets", WatchedSecrets(workspace.secrets, watch))
    open_store = workspace.store

    @contextmanager
    def watched_store() -> Iterator[Store]:
        watch.note("sqlite")
        with open_store() as store:
            yield store

    monkeypatch.setattr(workspace, "store", watched_store)
    save = ConfigFile.save

    def watched_save(config: ConfigFile) -> Settings:
        watch.note("koppelaar.toml")
        return save(config)

    monkeypatch.setattr(ConfigFile, "save", watched_save)

    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "facturen")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Doel boekhouding:" in screen_text(app), "the connection checks")
        await pilot.press("p")
        await wait_until(pilot, lambda: "paused = true" in world.home.config.read_text(), "paused")
        await pilot.press("d")
        await wait_for_text(pilot, "Dry-run: ok")

        await pilot.press("3")
        mapping = app.screen.query_one(MappingTab)
        await wait_until(pilot, lambda: mapping.directory is not None, "the live ledger accounts")
        assert mapping.vat_defaults, "the target's default btw-codes"
        await pilot.press("slash", *"verkoop", "space", "9", "enter", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MappingPicker), "the picker")
        await pilot.press(*"8000", "enter")  # the world has 8010 (Omzet laag)
        await wait_for_text(pilot, "Opgeslagen in koppelaar.toml")

        await pilot.press("2")
        await wait_for_text(pilot, "Onbekend btw-tarief 7%")
        await pilot.press("4")
        await wait_for_text(pilot, "Run 2:")
        await pilot.press("5")
        await wait_for_text(pilot, "Volgende runs:")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen), "back on the overview")
        await wait_for_text(pilot, "Gepauzeerd")
        await app.workers.wait_for_complete()

    assert '"verkoop:9" = "8000"' in world.home.config.read_text()
    assert watch.off_loop >= {"secret", "sqlite", "koppelaar.toml"}, watch.off_loop
    assert not watch.on_loop, f"on the event loop: {sorted(set(watch.on_loop))}"
