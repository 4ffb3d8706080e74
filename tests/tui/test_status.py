"""Status tab: is the koppeling connected, and the actions on it — run now, dry-run, pause — with live
progress and their effect where it matters (e-Boekhouden, koppelaar.toml)."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.pilot import Pilot
from textual.widgets import Button, TabbedContent

from sandbox import seed
from tests.tui.conftest import SIZE, AppFactory, screen_text, wait_for_text, wait_until
from tests.world import World
from tui.app import KoppelaarApp
from tui.screens.koppeling import KoppelingScreen
from tui.widgets.status_tab import StatusTab


async def open_status(pilot: Pilot[Any]) -> StatusTab:
    """From the overview into koppeling 'facturen', once its connection checks are on screen."""
    app = pilot.app
    assert isinstance(app, KoppelaarApp)
    await wait_for_text(pilot, "facturen")
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, KoppelingScreen), "the koppeling screen")
    await wait_until(pilot, lambda: "Doel boekhouding:" in screen_text(app), "the connection checks")
    return app.screen.query_one(StatusTab)


def new_invoice(world: World, company: str = "Bakkerij De Korenschoof") -> str:
    client = world.fs.add_client(company).clientnr
    return str(
        world.fs.add_invoice(client, [(3, "12.50", 21, "Krentenbollen")], sent="2026-01-22").invoicenr_full
    )


async def test_both_connections_are_checked_when_the_koppeling_opens(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_status(pilot)
        text = screen_text(app)
        assert "✓ Bron factuursturen: Verbonden met FactuurSturen" in text
        assert "✓ Doel boekhouding: Verbonden met e-Boekhouden" in text


async def test_a_revoked_token_shows_why_and_what_to_do(world: World, make_app: AppFactory) -> None:
    world.eb.revoke_token(seed.EB_API_TOKEN)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "facturen")
        await pilot.press("enter")
        text = await wait_for_text(pilot, "✗ Doel boekhouding")
        assert "✓ Bron factuursturen" in text
        assert "Wat te doen" in text


async def test_a_revoked_token_says_where_to_enter_a_new_one(world: World, make_app: AppFactory) -> None:
    """'vul het hier in' pointed at a field that is not there: the advice names the key and the command."""
    world.eb.revoke_token(seed.EB_API_TOKEN)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_text(pilot, "facturen")
        await pilot.press("enter")
        await wait_for_text(pilot, "✗ Doel boekhouding")
        words = " ".join(screen_text(app).split())
    assert "toets v op het tabblad Status" in words and "koppelaar connect boekhouding" in words, words
    assert "hier in" not in words and "hier opnieuw in" not in words


async def test_all_six_actions_are_visible_at_80x24(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_status(pilot)
        text = screen_text(app)
        for label in ("Nu synchroniseren (n)", "Dry-run (d)", "Pauzeren (p)", "Deactiveren (x)"):
            assert label in text, f"{label!r} not on screen:\n{text}"
        assert "Controleren (c)" in text and "Opnieuw verbinden (v)" in text


async def test_dry_run_shows_what_would_be_booked_and_books_nothing(
    world: World, make_app: AppFactory
) -> None:
    number = new_invoice(world)
    bookings = len(world.eb.mutations)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_status(pilot)
        await pilot.press("d")
        text = await wait_for_text(pilot, "Dry-run: ok")
        assert number in text  # the invoice it would book, with its amount
        assert "45.38 EUR" in text  # 3 x 12.50 + 21% VAT
    assert len(world.eb.mutations) == bookings


async def test_run_now_books_with_progress_and_says_so(world: World, make_app: AppFactory) -> None:
    number = new_invoice(world)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_status(pilot)
        await pilot.press("n")
        await wait_until(pilot, lambda: "1 geboekt" in screen_text(app), "the run's progress: 1 booked")
        await wait_until(pilot, lambda: not app.workspace.run_service.busy(), "the run to end")
    assert world.bookings_per_invoice()[number] == 1
    store = world.store()
    try:
        latest = store.runs("facturen", limit=1)[0]
    finally:
        store.close()
    assert latest.booked == 1 and latest.trigger == "manual", latest


async def test_pause_and_resume_are_written_to_koppelaar_toml(world: World, make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        tab = await open_status(pilot)
        await pilot.press("p")
        await wait_until(
            pilot, lambda: "paused = true" in world.home.config.read_text(), "paused in the file"
        )
        # Written in a thread worker: the label follows once the file is saved.
        await wait_until(
            pilot, lambda: str(tab.query_one("#pause", Button).label) == "Hervatten (p)", "the resume label"
        )
        await pilot.press("p")
        await wait_until(
            pilot, lambda: "paused = false" in world.home.config.read_text(), "resumed in the file"
        )
        await wait_until(
            pilot, lambda: str(tab.query_one("#pause", Button).label) == "Pauzeren (p)", "the pause label"
        )


async def test_tab_keys_typed_quickly_end_on_the_last_tab_asked_for(make_app: AppFactory) -> None:
    # A late 'show' of the Runs tab used to grab the focus and switch back to it.
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_status(pilot)
        screen = app.screen
        await pilot.press("4", "1", "4", "1")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.query_one(TabbedContent).active == "status"
        await pilot.press("d")
        await wait_for_text(pilot, "Dry-run: ok")


async def test_a_failing_dry_run_says_so_in_dutch_with_the_reason(world: World, make_app: AppFactory) -> None:
    world.eb.revoke_token(seed.EB_API_TOKEN)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_status(pilot)
        await pilot.press("d")
        text = await wait_for_text(pilot, "Dry-run: mislukt")
        assert "API-token" in text


async def test_keys_typed_fast_after_a_tab_switch_reach_the_new_tab(
    world: World, make_app: AppFactory
) -> None:
    """'4' then, quickly, '1' 'd' from a terminal: the d must start the dry-run on the Status tab."""
    number = new_invoice(world)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_status(pilot)
        await pilot.press("4")
        tabs = app.screen.query_one(TabbedContent)
        await wait_until(pilot, lambda: tabs.active == "runs" and app.focused is not None, "the Runs tab")
        # Both keys queued before either is handled, as when they arrive in one read from the terminal.
        app.post_message(events.Key("1", "1"))
        app.post_message(events.Key("d", "d"))
        text = await wait_for_text(pilot, "Dry-run: ok")
        assert number in text
        assert tabs.active == "status"
