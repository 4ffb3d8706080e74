"""Connecting Exact Online and Twinfield headless, over SSH: `koppelaar connect` prints the authorization
URL, the admin logs in elsewhere, allows access and pastes the redirect back; then the choices. And
keeping the authorization alive: the nightly keep-alive and the 25-day warning."""

from __future__ import annotations

import re
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox import seed
from state.config import ConfigFile, load_settings
from state.secrets import open_secret_store
from state.store import Store
from state.tokens import TokenVault, vault_key
from sync.connect import LoopbackListener, forget_tokens, open_listener
from sync.keepalive import KEEPALIVE_JOB, keep_alive
from sync.service import token_status
from sync.status import KoppelingState, overview
from tests.world import World, sandbox_world
from tui.cli import connect, main

AUTH_URL = re.compile(r"https?://\S+/(?:api/oauth2/auth|auth/authentication/connect/authorize)\?\S+")


def unauthorize(world: World, *, forget_secret: bool = True) -> None:
    """A home whose connection 'boekhouding' is configured but was never authorized."""
    settings = load_settings(world.home.config)
    secrets = open_secret_store(settings.app, world.home.root)
    forget_tokens("boekhouding", world.home.database, secrets)
    if forget_secret:
        secrets.delete("boekhouding:client_secret")
    config = ConfigFile.open(world.home.config)
    config.delete(("connections", "boekhouding", "division"))
    config.set(("connections", "boekhouding", "office" if world.target == "twinfield" else "verkoopboek"), "")
    config.save()


class Terminal:
    """An admin at `koppelaar connect`: answers by prompt; at "Adres of code" logs in with the browser
    (the simulator consents at once) and pastes what the address bar shows."""

    def __init__(self, capsys: pytest.CaptureFixture[str], answers: dict[str, str]) -> None:
        self.capsys = capsys
        self.answers = answers
        self.prompts: list[str] = []
        self.printed = ""
        self.tamper: Callable[[str], str] = lambda url: url

    def ask(self, prompt: str) -> str:
        self.prompts.append(prompt)
        self.printed += self.capsys.readouterr().out
        if prompt.startswith("Adres of code"):
            found = AUTH_URL.findall(self.printed)
            assert found, self.printed
            with httpx.Client() as browser:
                consent = browser.get(found[-1], follow_redirects=False)
            assert consent.status_code == 302, consent.text
            return self.tamper(consent.headers["location"])
        if prompt.startswith("Kies"):  # a list: its title is the last line printed above it
            titles = [
                line for line in self.printed.splitlines() if line.endswith(":") and not line.startswith(" ")
            ]
            prompt = titles[-1] if titles else prompt
            assert self.prompts.count(self.prompts[-1]) < 20, f"stuck at {prompt}"
        for start, answer in self.answers.items():
            if prompt.startswith(start):
                return answer
        return ""  # Enter: keep the proposed value

    def secret(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.answers.get("Client secret", "")

    def output(self) -> str:
        self.printed += self.capsys.readouterr().out
        return self.printed


@pytest.fixture
def exact_world(tmp_path: Path) -> Iterator[World]:
    with sandbox_world(tmp_path, target="exact", invoices=6) as w:
        unauthorize(w)
        yield w


@pytest.fixture
def twinfield_world(tmp_path: Path) -> Iterator[World]:
    with sandbox_world(tmp_path, target="twinfield", invoices=6) as w:
        w.twf.add_office(seed.TWINFIELD_ORGANISATION, "002", "Bakkerij De Vries Holding B.V.")
        unauthorize(w)
        yield w


def audit_details(world: World, action: str) -> list[str]:
    store = Store(world.home.database)
    try:
        return [detail for _, _, act, _, detail in store.audit_log(limit=50) if act == action]
    finally:
        store.close()


def config_of(world: World) -> dict[str, Any]:
    return tomllib.loads(world.home.config.read_text())


async def test_exact_connect_over_ssh_then_a_run_books_into_exact(
    exact_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = Terminal(capsys, {"Client secret": seed.EXACT_CLIENT_SECRET, "Land": "NL", "Verkoopboek": "70"})
    code = await connect(exact_world.home, "boekhouding", admin.ask, admin.secret)
    out = admin.output()
    assert code == 0, out
    assert "Autoriseer applicatie: open deze URL" in out
    assert "Verbonden: boekhouding" in out
    assert "Divisie code (administratie):" in out and "Demo B.V." in out
    boekhouding = config_of(exact_world)["connections"]["boekhouding"]
    assert boekhouding["division"] == seed.EXACT_DIVISION
    assert boekhouding["country"] == "NL"
    assert (boekhouding["verkoopboek"], boekhouding["inkoopboek"]) == ("70", "60")
    assert boekhouding["client_id"] == seed.EXACT_CLIENT_ID
    assert "exact-demo-secret" not in exact_world.home.config.read_text()  # the secret is not in the file
    settings = load_settings(exact_world.home.config)
    secrets = open_secret_store(settings.app, exact_world.home.root)
    status = token_status(exact_world.home.database, "boekhouding", secrets)
    assert status is not None and status.state == "ok" and not status.warn
    (audited,) = audit_details(exact_world, "connect")
    assert str(seed.EXACT_DIVISION) in audited and seed.EXACT_CLIENT_SECRET not in audited

    report = await exact_world.run()
    assert report.progress.booked > 0, report.message
    assert (
        len(exact_world.ex.sales_entries()) + len(exact_world.ex.purchase_entries()) == report.progress.booked
    )


async def test_exact_keeps_the_configured_client_id_and_stored_secret_when_left_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sandbox_world(tmp_path, target="exact", invoices=0) as world:
        unauthorize(world, forget_secret=False)
        admin = Terminal(capsys, {})
        assert await connect(world.home, "boekhouding", admin.ask, admin.secret) == 0, admin.output()
        assert "Enter: het opgeslagen secret houden" in " ".join(admin.prompts)


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda url: re.sub(r"state=[^&]+", "state=van-een-andere-aanmelding", url), "state klopt niet"),
        (
            lambda url: url.split("?")[0] + "?error=access_denied&error_description=Geweigerd",
            "gaf geen toegang",
        ),
    ],
)
async def test_a_redirect_of_another_login_is_refused_and_nothing_is_saved(
    exact_world: World,
    capsys: pytest.CaptureFixture[str],
    tamper: Callable[[str], str],
    expected: str,
) -> None:
    before = exact_world.home.config.read_text()
    admin = Terminal(capsys, {"Client secret": seed.EXACT_CLIENT_SECRET})
    admin.tamper = tamper
    assert await connect(exact_world.home, "boekhouding", admin.ask, admin.secret) == 2
    assert expected in admin.output()
    assert exact_world.home.config.read_text() == before
    assert audit_details(exact_world, "connect") == []
    settings = load_settings(exact_world.home.config)
    secrets = open_secret_store(settings.app, exact_world.home.root)
    assert secrets.get("boekhouding:client_secret") is None
    assert token_status(exact_world.home.database, "boekhouding", secrets) is None


async def test_an_expired_code_says_so_and_nothing_is_saved(
    exact_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exact_world.clock is not None
    admin = Terminal(capsys, {"Client secret": seed.EXACT_CLIENT_SECRET})

    def four_minutes_later(url: str) -> str:
        assert exact_world.clock is not None
        exact_world.clock.advance(240)  # the admin fetched coffee before pasting
        return url

    admin.tamper = four_minutes_later
    assert await connect(exact_world.home, "boekhouding", admin.ask, admin.secret) == 2
    out = admin.output()
    assert "verlopen of al gebruikt" in out and "3 minuten" in out
    settings = load_settings(exact_world.home.config)
    secrets = open_secret_store(settings.app, exact_world.home.root)
    assert token_status(exact_world.home.database, "boekhouding", secrets) is None


async def test_exact_belgium_uses_the_be_host(exact_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # The sandbox has one host, so base_url wins; what BE changes is the saved country.
    admin = Terminal(capsys, {"Client secret": seed.EXACT_CLIENT_SECRET, "Land": "be"})
    assert await connect(exact_world.home, "boekhouding", admin.ask, admin.secret) == 0, admin.output()
    assert config_of(exact_world)["connections"]["boekhouding"]["country"] == "BE"


async def test_twinfield_connect_with_office_choice_then_a_run_books(
    twinfield_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = Terminal(capsys, {"Client secret": seed.TWINFIELD_CLIENT_SECRET, "Administratie": "001"})
    code = await connect(twinfield_world.home, "boekhouding", admin.ask, admin.secret)
    out = admin.output()
    assert code == 0, out
    assert "002" in out and "Holding" in out  # both offices were offered
    assert "Land" not in " ".join(admin.prompts)  # NL/BE is an Exact question
    verkoopboeken = out.split("Verkoopboek:\n", 1)[1].split("Inkoopboek:", 1)[0]
    assert "VRK" in verkoopboeken and "INK" not in verkoopboeken  # only sales daybooks offered
    boekhouding = config_of(twinfield_world)["connections"]["boekhouding"]
    assert boekhouding["office"] == "001"
    assert (boekhouding["sales_journal"], boekhouding["purchase_journal"]) == ("VRK", "INK")
    report = await twinfield_world.run()
    assert report.progress.booked > 0, report.message
    assert len(twinfield_world.twf.transactions(office="001")) == report.progress.booked


async def test_disconnect_forgets_the_tokens(exact_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    admin = Terminal(capsys, {"Client secret": seed.EXACT_CLIENT_SECRET})
    assert await connect(exact_world.home, "boekhouding", admin.ask, admin.secret) == 0
    assert main(["--home", str(exact_world.home.root), "disconnect", "boekhouding", "--yes"]) == 0
    settings = load_settings(exact_world.home.config)
    secrets = open_secret_store(settings.app, exact_world.home.root)
    assert token_status(exact_world.home.database, "boekhouding", secrets) is None
    assert secrets.get("boekhouding:client_secret") is None


async def test_the_loopback_listener_catches_one_redirect() -> None:
    listener = LoopbackListener(port=0, path="/exact/callback")
    url = await listener.start()
    try:
        async with httpx.AsyncClient() as browser:
            assert (await browser.get(url.replace("/exact/callback", "/favicon.ico"))).status_code == 404
            page = await browser.get(url + "?code=abc&state=xyz")
        assert page.status_code == 200 and "Autorisatie ontvangen" in page.text
        caught = await listener.wait(timeout=5)
        assert caught is not None and "code=abc" in caught and "state=xyz" in caught
    finally:
        await listener.close()


async def test_no_listener_for_a_redirect_uri_elsewhere() -> None:
    assert await open_listener("https://koppelaar.example.nl/callback") is None


# -- keep-alive and the 25-day warning -------------------------------------------------------------------


def age_refresh_token(world: World, days: float) -> None:
    """Pretend the stored refresh token was obtained `days` ago (and its access token long expired)."""
    store = Store(world.home.database)
    try:
        with store.transaction() as db:
            db.execute(
                "UPDATE oauth_tokens SET refresh_obtained_at = refresh_obtained_at - ?,"
                " access_expires_at = access_expires_at - ?",
                (days * 86400, days * 86400),
            )
    finally:
        store.close()


async def test_keep_alive_refreshes_an_old_refresh_token_and_leaves_a_fresh_one_alone(tmp_path: Path) -> None:
    with sandbox_world(tmp_path, target="exact", invoices=0) as world:
        results = await keep_alive(world.home)
        assert [(r.connection, r.action) for r in results] == [("boekhouding", "vers")]
        assert world.ex.refreshes("ok") == 0

        age_refresh_token(world, 8)
        assert world.clock is not None
        world.clock.advance(8 * 86400)  # Exact agrees: that token is 8 days old
        results = await keep_alive(world.home)
        assert [(r.connection, r.action) for r in results] == [("boekhouding", "vernieuwd")]
        assert world.ex.refreshes("ok") == 1
        settings = load_settings(world.home.config)
        secrets = open_secret_store(settings.app, world.home.root)
        status = token_status(world.home.database, "boekhouding", secrets)
        assert status is not None
        assert status.days_until_refresh_expiry is not None and status.days_until_refresh_expiry > 29


async def test_keep_alive_runs_once_per_business_date_in_the_scheduler(tmp_path: Path) -> None:
    from sync.scheduler import NightlyScheduler

    with sandbox_world(tmp_path, target="exact", invoices=0) as world:
        age_refresh_token(world, 8)
        assert world.clock is not None
        world.clock.advance(8 * 86400)
        store = Store(world.home.database)
        calls: list[str] = []

        async def run(name: str, trigger: str) -> None:
            calls.append(name)

        scheduler = NightlyScheduler(store, load_settings(world.home.config), run, role="daemon")
        try:
            await scheduler.fire_keepalive()
            await scheduler.fire_keepalive()  # a duplicate fire (DST, a second process): no-op
        finally:
            scheduler.shutdown()
            store.close()
        assert world.ex.refreshes("ok") == 1
        assert calls == []
        assert KEEPALIVE_JOB.startswith("keepalive")


async def test_the_overview_warns_at_25_days_unused(tmp_path: Path) -> None:
    with sandbox_world(tmp_path, target="exact", invoices=0) as world:
        settings = load_settings(world.home.config)
        secrets = open_secret_store(settings.app, world.home.root)
        store = Store(world.home.database)
        try:
            (row,) = overview(settings, store, secrets)
            assert row.state is KoppelingState.ACTIEF and "autorisatie" not in row.reason

            age_refresh_token(world, 26)
            (row,) = overview(settings, store, secrets)
            assert row.state is KoppelingState.ACTIEF  # it still works; it needs a refresh soon
            assert "autorisatie verloopt over 4 dagen" in row.reason
            assert row.as_json()["reason"] == row.reason
        finally:
            store.close()
        vault = TokenVault(world.home.database, vault_key(secrets), clock=lambda: time.time() + 30 * 86400)
        try:
            status = vault.status("boekhouding")
            assert status is not None and status.warn
            assert status.days_until_refresh_expiry is not None and status.days_until_refresh_expiry < 0
        finally:
            vault.close()


async def test_a_wrong_paste_may_be_pasted_again_and_then_connects(
    exact_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = Terminal(capsys, {"Client secret": seed.EXACT_CLIENT_SECRET, "Land": "NL"})
    pasted: list[str] = []

    def an_old_tab_first(url: str) -> str:
        pasted.append(url)
        return re.sub(r"state=[^&]+", "state=van-een-oud-tabblad", url) if len(pasted) == 1 else url

    admin.tamper = an_old_tab_first
    assert await connect(exact_world.home, "boekhouding", admin.ask, admin.secret) == 0, admin.output()
    out = admin.output()
    assert "state klopt niet" in out and "Plak het adres opnieuw (poging 2 van 3)" in out
    assert "Verbonden: boekhouding" in out
    assert config_of(exact_world)["connections"]["boekhouding"]["division"] == seed.EXACT_DIVISION
