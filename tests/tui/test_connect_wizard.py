"""The connect wizard tells the truth about a stored connection; its tegenrekening question: it proposes the value in use, typing searches (as the
Mapping picker does), and Enter never saves an account nobody chose."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from sandbox import seed
from state.config import ConfigFile, load_settings
from tests.tui.test_connect import settle, status_text, step
from tests.world import World, sandbox_world
from tui.app import KoppelaarApp
from tui.screens.connect import ConnectScreen, open_connect


def add_koppeling_without_inkoop(world: World) -> None:
    """A second koppeling into the same administratie whose purchase tegenrekening is not set yet."""
    config = ConfigFile.open(world.home.config)
    config.set(("koppelingen", "inkoop", "source"), "factuursturen")
    config.set(("koppelingen", "inkoop", "target"), "boekhouding")
    config.set(("koppelingen", "inkoop", "mapping", "tegenrekening_verkoop"), "8000")
    config.save()


async def to_tegenrekening(app: KoppelaarApp, pilot: Pilot[None], key: str) -> ConnectScreen:
    open_connect(app, "boekhouding")
    await settle(app, pilot)
    await pilot.press("enter")  # the stored token
    await settle(app, pilot)
    assert step(app) == "step-choose:administratie"
    await pilot.press("enter")
    await settle(app, pilot)
    while step(app) != f"step-choose:{key}":
        await pilot.press("enter")  # keep what the other questions propose
        await settle(app, pilot)
    wizard = app.screen
    assert isinstance(wizard, ConnectScreen)
    return wizard


async def test_typing_a_code_searches_and_enter_takes_it(tmp_path: Path) -> None:
    with sandbox_world(tmp_path, api="rest", invoices=0) as world:
        app = KoppelaarApp(world.home, embedded_scheduler=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            wizard = await to_tegenrekening(app, pilot, "facturen:inkoop")
            # Typed straight away, no '/' first: the digits search.
            await pilot.press(*"4600")
            await pilot.pause()
            assert wizard.query_one("#choose-filter", Input).value == "4600"
            options = wizard.query_one("#choose-options", OptionList)
            assert options.option_count == 1
            await pilot.press("enter")
            await settle(app, pilot)
        mapping = load_settings(world.home.config).koppelingen["facturen"].mapping
        assert mapping.tegenrekening_inkoop == "4600"


async def test_an_unset_tegenrekening_proposes_what_the_administratie_uses_and_never_the_first_row(
    tmp_path: Path,
) -> None:
    with sandbox_world(tmp_path, api="rest", invoices=0) as world:
        add_koppeling_without_inkoop(world)
        app = KoppelaarApp(world.home, embedded_scheduler=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            wizard = await to_tegenrekening(app, pilot, "inkoop:inkoop")
            options = wizard.query_one("#choose-options", OptionList)
            assert options.highlighted is not None
            # The purchase tegenrekening koppeling 'facturen' books on in this administratie.
            assert options.get_option_at_index(options.highlighted).id == "7000"
            await pilot.press("enter")
            await settle(app, pilot)
        mapping = load_settings(world.home.config).koppelingen["inkoop"].mapping
        assert mapping.tegenrekening_inkoop == "7000"


async def test_a_stored_token_the_vendor_refuses_is_not_called_verbonden(tmp_path: Path) -> None:
    with sandbox_world(tmp_path, api="rest", invoices=0) as world:
        world.eb.revoke_token(seed.EB_API_TOKEN)
        app = KoppelaarApp(world.home, embedded_scheduler=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            open_connect(app, "boekhouding")
            await settle(app, pilot)
            wizard = app.screen
            assert isinstance(wizard, ConnectScreen)
            assert "Verbonden" not in str(wizard.sub_title), wizard.sub_title
            assert "geweigerd" in str(wizard.sub_title)
            assert "API-token" in status_text(app)
