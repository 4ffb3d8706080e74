"""The connect wizard as an IT admin uses it after a password change: the seed's steps, in its words,
against the sandbox vendors over real HTTP. Nothing is saved until the last step; a refusal says why."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Button, ContentSwitcher, Input, OptionList, Static

from sandbox import seed
from state.config import load_settings
from state.secrets import open_secret_store
from state.store import Store
from sync.connect_steps import Choose
from sync.status import KoppelingState
from tests.world import World, sandbox_world
from tui.app import KoppelaarApp
from tui.screens.confirm import ConfirmScreen
from tui.screens.connect import ChooseConnectionScreen, ConnectScreen, open_connect
from tui.screens.koppeling import KoppelingScreen

COMMENT = "# beheerd door de IT-afdeling: wijzigingen via de console\n"


def forget_secrets(world: World, *fields: str) -> None:
    """The state after `koppelaar disconnect` (or a fresh install): no codes stored."""
    secrets = open_secret_store(load_settings(world.home.config).app, world.home.root)
    for field in fields:
        secrets.delete(f"boekhouding:{field}")


def stored(world: World, name: str) -> str | None:
    secrets = open_secret_store(load_settings(world.home.config).app, world.home.root)
    value = secrets.get(name)
    return value.get_secret_value() if value else None


def state_of(app: KoppelaarApp) -> KoppelingState:
    rows, _ = app.workspace.overview()
    return next(r.state for r in rows if r.name == "facturen")


def status_text(app: KoppelaarApp, widget: str = "#connect-status") -> str:
    return str(app.screen.query_one(widget, Static).render())


async def settle(app: KoppelaarApp, pilot: Pilot[None]) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def type_into(pilot: Pilot[None], field: Input, text: str) -> None:
    field.focus()
    field.value = ""
    await pilot.pause()
    field.insert_text_at_cursor(text)  # as typed: Changed events, cursor at the end
    await pilot.pause()


def step(app: KoppelaarApp) -> str | None:
    """The wizard's pane, and for a list which question it asks ("step-choose:administratie")."""
    screen = app.screen
    assert isinstance(screen, ConnectScreen)
    current = screen.query_one(ContentSwitcher).current
    question = screen.question
    return f"{current}:{question.key}" if isinstance(question, Choose) else current


async def test_wrong_code_is_refused_with_the_reason_then_the_right_codes_connect_step_by_step(
    tmp_path: Path,
) -> None:
    with sandbox_world(tmp_path, api="soap", invoices=0) as world:
        world.home.config.write_text(COMMENT + world.home.config.read_text())
        forget_secrets(world, "beveiligingscode_1", "beveiligingscode_2")
        secrets_before = (world.home.root / "secrets.enc").read_bytes()
        app = KoppelaarApp(world.home, embedded_scheduler=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            assert state_of(app) is KoppelingState.NIET_VERBONDEN

            # Overzicht → koppeling → Status tab → "Opnieuw verbinden" (v) → pick the target.
            await pilot.press("enter")
            await settle(app, pilot)
            assert isinstance(app.screen, KoppelingScreen)
            app.screen.query_one("#check", Button).focus()
            await pilot.press("v")
            await pilot.pause()
            assert isinstance(app.screen, ChooseConnectionScreen)
            await pilot.press("down", "enter")
            await settle(app, pilot)
            wizard = app.screen
            assert isinstance(wizard, ConnectScreen)
            assert "Maak verbinding met e-Boekhouden.nl" in status_text(app, ".connect-title")
            assert "Beheer > Instellingen > Koppelingen > API/SOAP" in status_text(app, ".connect-hint")
            assert "Niet verbonden" in status_text(app)
            code1 = wizard.query_one("#field-beveiligingscode_1", Input)
            code2 = wizard.query_one("#field-beveiligingscode_2", Input)
            assert code1.password and code2.password
            assert wizard.query_one("#field-username", Input).value == seed.EB_SOAP_USER

            # Beveiligingscode 1 from before the password change: refused, with the reason and advice.
            await type_into(pilot, code1, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF")
            await type_into(pilot, code2, seed.EB_SOAP_CODE2)
            await pilot.press("enter")  # Enter on the last field = "Maak verbinding met e-Boekhouden.nl"
            await settle(app, pilot)
            refusal = status_text(app)
            assert "Niet verbonden" in refusal and "weigert" in refusal
            assert "Beveiligingscode 1 verandert wanneer het wachtwoord" in refusal
            assert step(app) == "step-ask"
            assert (world.home.root / "secrets.enc").read_bytes() == secrets_before
            assert seed.EB_SOAP_CODE2 not in app.export_screenshot()

            # The current code: administratie, then the tegenrekeningen, searchable, then saved.
            await type_into(pilot, code1, seed.EB_SOAP_CODE1)
            await pilot.click("#connect")
            await settle(app, pilot)
            assert step(app) == "step-choose:administratie"
            administraties = wizard.query_one("#choose-options", OptionList)
            assert "Koppelaar Demo B.V." in str(administraties.get_option_at_index(0).prompt)
            chosen_admin = administraties.get_option_at_index(0).id
            assert (world.home.root / "secrets.enc").read_bytes() == secrets_before  # still nothing saved
            await pilot.press("enter")
            await pilot.pause()

            assert step(app) == "step-choose:facturen:verkoop"
            assert "Verkoopfacturen" in status_text(app, "#connect-text")
            await pilot.press("slash")
            await pilot.press(*"omzet laag")
            await pilot.pause()
            ledgers = wizard.query_one("#choose-options", OptionList)
            assert ledgers.option_count == 1 and ledgers.get_option_at_index(0).id == "8010"
            await pilot.press("enter")  # the one found
            await pilot.pause()
            assert step(app) == "step-choose:facturen:inkoop"
            assert "Inkoopfacturen" in status_text(app, "#connect-text")
            await pilot.press("slash", "4", "6")
            await pilot.pause()
            await pilot.press("enter")
            await settle(app, pilot)

            assert "Verbonden" in status_text(app)
            text = world.home.config.read_text()
            assert text.startswith(COMMENT)
            assert seed.EB_SOAP_CODE1 not in text and seed.EB_SOAP_CODE2 not in text
            settings = load_settings(world.home.config)
            assert settings.connections["boekhouding"].administratie_id == chosen_admin
            mapping = settings.koppelingen["facturen"].mapping
            assert (mapping.tegenrekening_verkoop, mapping.tegenrekening_inkoop) == ("8010", "4600")
            assert mapping.tegenrekening == {"verkoop:9": "8010", "verkoop:0": "8020"}  # untouched
            assert stored(world, "boekhouding:beveiligingscode_1") == seed.EB_SOAP_CODE1
            assert stored(world, "boekhouding:beveiligingscode_2") == seed.EB_SOAP_CODE2
            assert state_of(app) is KoppelingState.ACTIEF
            store = Store(world.home.database)
            try:
                audit = store.audit_log(5)
            finally:
                store.close()
            assert audit[0][2] == "connect" and "boekhouding" in audit[0][4]
            assert seed.EB_SOAP_CODE1 not in audit[0][4]

            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, KoppelingScreen)


async def test_rest_asks_the_api_token_and_an_empty_field_keeps_nothing_secret_on_screen(
    tmp_path: Path,
) -> None:
    with sandbox_world(tmp_path, api="rest", invoices=0) as world:
        world.eb.add_api_token("eb-nieuw-token-0002")
        app = KoppelaarApp(world.home, embedded_scheduler=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            open_connect(app, "boekhouding")
            await settle(app, pilot)
            wizard = app.screen
            assert "Beheer → Inrichting → Koppelingen → API" in status_text(app, ".connect-hint")
            assert not wizard.query("#field-username")  # the token alone identifies the user
            token = wizard.query_one("#field-api_token", Input)
            assert token.password

            await type_into(pilot, token, "eb-ingetrokken-token")
            await pilot.press("enter")
            await settle(app, pilot)
            assert "API-token is ongeldig" in status_text(app)
            assert stored(world, "boekhouding:api_token") == seed.EB_API_TOKEN

            await type_into(pilot, token, "eb-nieuw-token-0002")
            await pilot.press("enter")
            await settle(app, pilot)
            assert step(app) == "step-choose:administratie"
            await pilot.press("enter")  # the administratie
            await pilot.press("enter")  # verkoop: keep the current tegenrekening (highlighted)
            await pilot.press("enter")  # inkoop: idem
            await settle(app, pilot)
            assert stored(world, "boekhouding:api_token") == "eb-nieuw-token-0002"
            mapping = load_settings(world.home.config).koppelingen["facturen"].mapping
            assert (mapping.tegenrekening_verkoop, mapping.tegenrekening_inkoop) == ("8000", "7000")
            assert token.value == ""  # typed secrets leave the screen once stored
            assert state_of(app) is KoppelingState.ACTIEF
            report = await world.run()
            assert report.status.value == "ok"


async def test_closing_halfway_leaves_everything_untouched(tmp_path: Path) -> None:
    with sandbox_world(tmp_path, api="soap", invoices=0) as world:
        config_before = world.home.config.read_bytes()
        secrets_before = (world.home.root / "secrets.enc").read_bytes()
        app = KoppelaarApp(world.home, embedded_scheduler=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            open_connect(app, "boekhouding")
            await settle(app, pilot)
            wizard = app.screen
            await type_into(pilot, wizard.query_one("#field-username", Input), "nieuwe-gebruiker")
            await type_into(pilot, wizard.query_one("#field-beveiligingscode_1", Input), seed.EB_SOAP_CODE1)
            await type_into(pilot, wizard.query_one("#field-beveiligingscode_2", Input), seed.EB_SOAP_CODE2)
            # Username unknown to e-Boekhouden; then the right one, up to the tegenrekeningen, and close.
            await pilot.press("enter")
            await settle(app, pilot)
            assert "Niet verbonden" in status_text(app)
            await type_into(pilot, wizard.query_one("#field-username", Input), seed.EB_SOAP_USER)
            await pilot.click("#connect")
            await settle(app, pilot)
            await pilot.press("enter")
            await pilot.pause()
            assert step(app) == "step-choose:facturen:verkoop"
            await pilot.press("escape")
            await settle(app, pilot)
            assert not isinstance(app.screen, ConnectScreen)
        assert world.home.config.read_bytes() == config_before
        assert (world.home.root / "secrets.enc").read_bytes() == secrets_before


async def test_read_only_checks_but_refuses_to_save_or_disconnect(tmp_path: Path) -> None:
    with sandbox_world(tmp_path, api="soap", invoices=0) as world:
        config_before = world.home.config.read_bytes()
        secrets_before = (world.home.root / "secrets.enc").read_bytes()
        app = KoppelaarApp(world.home, read_only=True, embedded_scheduler=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            open_connect(app, "factuursturen")
            await settle(app, pilot)
            wizard = app.screen
            assert "Alleen-lezen" in app.export_screenshot()
            assert not wizard.query_one("#disconnect").display
            assert wizard.query_one("#field-username", Input).value == seed.FS_LOGIN
            await type_into(pilot, wizard.query_one("#field-api_key", Input), seed.FS_API_KEY)
            await pilot.press("enter")
            await settle(app, pilot)
            assert "niet opgeslagen" in status_text(app)
        assert world.home.config.read_bytes() == config_before
        assert (world.home.root / "secrets.enc").read_bytes() == secrets_before


async def test_verbinding_verbreken_asks_first_then_wipes_the_secrets(tmp_path: Path) -> None:
    with sandbox_world(tmp_path, api="soap", invoices=0) as world:
        app = KoppelaarApp(world.home, embedded_scheduler=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            open_connect(app, "boekhouding")
            await settle(app, pilot)
            assert "Verbonden" in status_text(app)
            await pilot.click("#disconnect")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")  # the safe answer first: nothing happens
            await settle(app, pilot)
            assert stored(world, "boekhouding:beveiligingscode_1") == seed.EB_SOAP_CODE1
            await pilot.click("#disconnect")
            await pilot.pause()
            await pilot.press("j")
            await settle(app, pilot)
            assert stored(world, "boekhouding:beveiligingscode_1") is None
            assert stored(world, "boekhouding:beveiligingscode_2") is None
            assert "Niet verbonden" in status_text(app)
            assert state_of(app) is KoppelingState.NIET_VERBONDEN


async def test_the_command_palette_opens_the_wizard_for_a_connection(tmp_path: Path) -> None:
    with sandbox_world(tmp_path, api="soap", invoices=0) as world:
        app = KoppelaarApp(world.home, embedded_scheduler=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"factuursturen opnieuw")
            await settle(app, pilot)
            await pilot.press("enter")
            await settle(app, pilot)
            assert isinstance(app.screen, ConnectScreen)
            assert app.screen.connection_name == "factuursturen"
            assert "Maak verbinding met FactuurSturen.nl" in status_text(app, ".connect-title")
            assert "Instellingen → Verbindingen" in status_text(app, ".connect-hint")


async def test_the_console_stays_responsive_while_the_vendor_takes_its_time(tmp_path: Path) -> None:
    with sandbox_world(tmp_path, api="soap", invoices=0) as world:
        app = KoppelaarApp(world.home, embedded_scheduler=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            open_connect(app, "factuursturen")
            await settle(app, pilot)  # the wizard's own look at the stored key is done
            world.fs.faults.add("latency", ms=1500, times=1)
            wizard = app.screen
            await type_into(pilot, wizard.query_one("#field-api_key", Input), seed.FS_API_KEY)
            await pilot.press("enter")
            await pilot.pause()
            # The check is under way: a spinner and what it is doing, and typing still works.
            assert wizard.query_one("#connect-spinner").display
            assert "Verbinden met FactuurSturen.nl" in status_text(app)
            assert wizard.query_one("#connect", Button).disabled
            await pilot.press("shift+tab", "x")
            assert wizard.query_one("#field-username", Input).value.endswith("x")
            await settle(app, pilot)
            assert not wizard.query_one("#connect-spinner").display
