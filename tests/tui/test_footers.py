"""Footers at 80 columns: every key a person needs on a tab is in its footer, whole (issue 10: the
Status footer ended in 'c Check conne…' and the Foutmeldingen footer hid esc)."""

from __future__ import annotations

import pytest

from tests.tui.conftest import SIZE, AppFactory, screen_text, wait_for_text, wait_for_words, wait_until
from tui.app import KoppelaarApp
from tui.screens.koppeling import KoppelingScreen

# Per tab, the keys a support person acts with (the tab's own and the way back and to help).
NEEDED = {
    "1": ("n", "d", "p", "x", "c", "v", "escape", "question_mark"),
    "2": ("o", "i", "m", "s", "slash", "escape", "question_mark"),
    "3": ("x", "slash", "escape", "question_mark"),
    "4": ("escape", "question_mark"),
    "5": ("escape", "question_mark"),
}


def footer(app: KoppelaarApp) -> str:
    return screen_text(app).rstrip("\n").splitlines()[-1]


def offered(app: KoppelaarApp, key: str) -> str:
    """The footer item for `key` as the footer draws it: its display and its description."""
    binding = app.screen.active_bindings[key].binding
    return f"{app.get_key_display(binding)} {binding.description}"


@pytest.mark.parametrize("language", ["nl", "en"])
async def test_every_key_a_tab_needs_is_whole_in_its_footer_at_80_columns(
    make_app: AppFactory, language: str
) -> None:
    app = make_app(language=language)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "facturen")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, KoppelingScreen), "the koppeling opens")
        for tab, keys in NEEDED.items():
            await pilot.press(tab)
            await pilot.pause()
            for key in keys:
                item = offered(app, key)
                await wait_until(pilot, lambda: item in footer(app), f"{item!r} on tab {tab}", timeout=15)  # noqa: B023
            assert "…" not in footer(app), footer(app)


async def test_read_only_offers_only_what_it_allows_and_says_why_when_typed_anyway(
    make_app: AppFactory,
) -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for_text(pilot, "facturen")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, KoppelingScreen), "the koppeling opens")
        await wait_until(pilot, lambda: offered(app, "d") in footer(app), "d (a dry-run books nothing)")
        shown = footer(app)
        for key in ("n", "p", "x"):
            assert offered(app, key) not in shown, shown
        for key in ("c", "v", "escape", "question_mark"):
            assert offered(app, key) in shown, shown
        await pilot.press("n")
        await wait_for_words(pilot, "synchroniseren is niet toegestaan", timeout=15)
