"""The console's "Autoriseer applicatie" for Exact Online and Twinfield, as an admin over SSH uses it:
Client secret, the URL shown to copy, the browser elsewhere, the redirect pasted back, then Divisie
code / administratie, dagboeken and tegenrekeningen. Nothing is saved before the end."""

from __future__ import annotations

import re
import socket
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from textual.widgets import ContentSwitcher, Input, Static, TextArea

from sandbox import seed
from state.config import load_settings
from state.secrets import open_secret_store
from sync.service import token_status
from tests.test_connect_oauth import unauthorize
from tests.tui.conftest import new_app, wait_until
from tests.world import World, sandbox_world
from tui.app import KoppelaarApp
from tui.screens.connect import ConnectScreen, open_connect


@pytest.fixture
def exact(tmp_path: Path) -> Iterator[World]:
    with sandbox_world(tmp_path, target="exact", invoices=5) as w:
        unauthorize(w)
        yield w


@pytest.fixture
def twinfield(tmp_path: Path) -> Iterator[World]:
    with sandbox_world(tmp_path, target="twinfield", invoices=5) as w:
        w.twf.add_office(seed.TWINFIELD_ORGANISATION, "002", "Bakkerij De Vries Holding B.V.")
        unauthorize(w)
        yield w


def step(app: KoppelaarApp) -> str | None:
    return app.screen.query_one(ContentSwitcher).current


def text(app: KoppelaarApp, widget: str) -> str:
    return str(app.screen.query_one(widget, Static).render())


def authorized(world: World) -> bool:
    settings = load_settings(world.home.config)
    secrets = open_secret_store(settings.app, world.home.root)
    return token_status(world.home.database, "boekhouding", secrets) is not None


async def consent(url: str) -> str:
    """The admin's browser on another machine: log in, Toestaan, and the address it ends up on."""
    async with httpx.AsyncClient() as browser:
        response = await browser.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def open_wizard(app: KoppelaarApp, pilot, secret: str) -> None:  # type: ignore[no-untyped-def]
    open_connect(app, "boekhouding")
    await wait_until(
        pilot,
        lambda: isinstance(app.screen, ConnectScreen) and app.screen.query("#field-client_secret"),
        "the OAuth wizard opens",
    )
    app.screen.query_one("#field-client_secret", Input).value = secret
    await pilot.click("#connect")
    await wait_until(pilot, lambda: step(app) == "step-authorise", "the URL step shows")


async def paste(app: KoppelaarApp, pilot, pasted: str) -> None:  # type: ignore[no-untyped-def]
    field = app.screen.query_one("#authorise-pasted", Input)
    field.value = pasted
    field.focus()
    await pilot.press("enter")


async def choose_all(app: KoppelaarApp, pilot, screen: ConnectScreen) -> None:  # type: ignore[no-untyped-def]
    """Enter on every list: the proposed administratie, dagboeken and tegenrekeningen."""
    for _ in range(12):
        await wait_until(pilot, lambda: not screen.busy, "the wizard is ready")
        if screen.connected or step(app) != "step-choose":
            return
        app.screen.query_one("#choose-options").focus()
        await pilot.press("enter")
        await pilot.pause()


async def test_exact_authorize_in_the_console_then_a_run_books(exact: World) -> None:
    app = new_app(exact)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(app, pilot, seed.EXACT_CLIENT_SECRET)
        screen = app.screen
        assert isinstance(screen, ConnectScreen)
        url = app.screen.query_one("#authorise-url", TextArea).text
        assert "/api/oauth2/auth?" in url and "state=" in url  # selectable, copyable text
        assert "Wacht op autorisatie" in str(screen.sub_title) + text(app, "#connect-status")
        await paste(app, pilot, await consent(url))
        await wait_until(pilot, lambda: step(app) == "step-choose", "the division list shows")
        assert "Divisie code" in text(app, "#connect-title")
        await choose_all(app, pilot, screen)
        await wait_until(pilot, lambda: screen.connected, "saved and connected")
        assert "Access token aangemaakt" in text(app, "#connect-status")
    boekhouding = tomllib.loads(exact.home.config.read_text())["connections"]["boekhouding"]
    assert boekhouding["division"] == seed.EXACT_DIVISION
    assert (boekhouding["verkoopboek"], boekhouding["inkoopboek"]) == ("70", "60")
    report = await exact.run()
    assert report.progress.booked > 0, report.message


async def test_a_redirect_from_another_login_is_refused_and_nothing_saved(exact: World) -> None:
    before = exact.home.config.read_text()
    app = new_app(exact)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(app, pilot, seed.EXACT_CLIENT_SECRET)
        location = await consent(app.screen.query_one("#authorise-url", TextArea).text)
        await paste(app, pilot, re.sub(r"state=[^&]+", "state=oud", location))
        await wait_until(
            pilot, lambda: "state klopt niet" in text(app, "#connect-status"), "the refusal shows"
        )
        assert step(app) == "step-authorise"  # the admin can paste again or start over
    assert exact.home.config.read_text() == before
    assert not authorized(exact)


async def test_read_only_authorizes_to_check_but_saves_nothing(exact: World) -> None:
    before = exact.home.config.read_text()
    app = new_app(exact, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(app, pilot, seed.EXACT_CLIENT_SECRET)
        screen = app.screen
        assert isinstance(screen, ConnectScreen)
        await paste(app, pilot, await consent(app.screen.query_one("#authorise-url", TextArea).text))
        await wait_until(pilot, lambda: step(app) == "step-choose", "the division list shows")
        await choose_all(app, pilot, screen)
        await wait_until(pilot, lambda: "niet opgeslagen" in text(app, "#connect-status"), "the refusal")
        assert not screen.connected
    assert exact.home.config.read_text() == before
    assert not authorized(exact)


async def test_twinfield_office_choice_in_the_console(twinfield: World) -> None:
    app = new_app(twinfield)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(app, pilot, seed.TWINFIELD_CLIENT_SECRET)
        screen = app.screen
        assert isinstance(screen, ConnectScreen)
        url = app.screen.query_one("#authorise-url", TextArea).text
        assert "nonce=" in url
        await paste(app, pilot, await consent(url))
        await wait_until(pilot, lambda: step(app) == "step-choose", "the office list shows")
        assert app.screen.query_one("#choose-options").option_count == 2  # type: ignore[attr-defined]
        await pilot.press("down", "enter")  # the Holding
        await choose_all(app, pilot, screen)
        await wait_until(pilot, lambda: screen.connected, "saved and connected")
    boekhouding = tomllib.loads(twinfield.home.config.read_text())["connections"]["boekhouding"]
    assert boekhouding["office"] == "002"
    assert authorized(twinfield)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_browser_returning_to_this_machine_needs_no_paste(exact: World) -> None:
    # A port of the test's own (8765 of the demo may be taken): registered with the simulated app and
    # configured on the connection, as an admin would for `ssh -L`.
    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/exact/callback"
    exact.ex.apps[seed.EXACT_CLIENT_ID].redirect_uri = redirect_uri
    config = exact.home.config
    config.write_text(config.read_text().replace(seed.EXACT_REDIRECT_URI, redirect_uri))
    app = new_app(exact)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(app, pilot, seed.EXACT_CLIENT_SECRET)
        await wait_until(
            pilot, lambda: f"ssh -L {port}" in text(app, "#connect-status"), "the listener says so"
        )
        url = app.screen.query_one("#authorise-url", TextArea).text
        assert f"127.0.0.1%3A{port}" in url or f"127.0.0.1:{port}" in url
        async with httpx.AsyncClient() as browser:  # a browser that follows the redirect to 127.0.0.1
            landed = await browser.get(url, follow_redirects=True)
        assert "Autorisatie ontvangen" in landed.text
        await wait_until(pilot, lambda: step(app) == "step-choose", "the division list shows by itself")
