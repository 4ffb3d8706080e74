"""One language on screen: every screen walked in English shows none of the console's Dutch words, and in
Dutch the command palette asks in Dutch."""

from __future__ import annotations

import re
from typing import Any

from textual.pilot import Pilot

from tests.tui.conftest import SIZE, AppFactory, screen_text, wait_for_text, wait_until
from tui.app import KoppelaarApp
from tui.screens.koppeling import KoppelingScreen

# Words of the console itself (not of the data: customers, ledger names and vendor texts stay as the
# vendor wrote them). Whole words, case-sensitive as the console writes them.
DUTCH = (
    "Verbonden",
    "Wat te doen",
    "Controleren",
    "Opnieuw",
    "Sluiten",
    "geboekt",
    "opgehaald",
    "Laatste",
    "Volgende",
    "Zoek",
    "Kies",
    "Instellingen",
    "Foutmeldingen",
    "Bron",
    "Doel",
    "Planner",
    "huidig",
    "Bezig",
    "Afsluiten",
    "Terug",
    "Vernieuwen",
    "Aanleiding",
    "Melding",
    "Uitkomst",
    "Toetsen",
    "deze console",
    "Pauzeren",
    "Deactiveren",
    "Nu synchroniseren",
    "onzeker",
    "al verwerkt",
)

# The console's English words, for the Dutch walk.
ENGLISH = (
    "Quit",
    "Back",
    "Errors",
    "Settings",
    "Search",
    "No matches",
    "booked",
    "What to do",
    "Connected",
    "Check",
    "Reconnect",
    "Sync now",
    "Pause",
    "failed",
    "partial",
    "uncertain",
    "fetched",
    "Message",
    "Outcome",
    "Keys",
    "Scheduler",
    "Next",
    "Last",
    "Source",
    "Target",
    "since",
    "nobody",
)


def words_of(language: tuple[str, ...], text: str) -> list[str]:
    return [word for word in language if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text)]


async def walk(app: KoppelaarApp, pilot: Pilot[Any]) -> dict[str, str]:
    """Every screen a support person sees: the Overzicht, each tab of a koppeling, the help."""
    seen: dict[str, str] = {}
    await wait_for_text(pilot, "facturen")
    seen["overview"] = screen_text(app)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, KoppelingScreen), "the koppeling screen")
    for key, tab in (
        ("1", "status"),
        ("2", "foutmeldingen"),
        ("3", "mapping"),
        ("4", "runs"),
        ("5", "instellingen"),
    ):
        await pilot.press(key)
        await app.workers.wait_for_complete()
        await pilot.pause()
        seen[tab] = screen_text(app)
    await pilot.press("question_mark")
    await pilot.pause()
    seen["help"] = screen_text(app)
    return seen


def footer(text: str) -> str:
    return text.rstrip().splitlines()[-1]


async def test_key_labels_follow_the_language_of_the_console_opened(make_app: AppFactory) -> None:
    """A Dutch console first, then an English one in the same process: the key labels were fixed in
    Dutch when the screens were defined (the footer said 'Afsluiten', 'Terug' under --lang en)."""
    async with make_app().run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "facturen")
    app = make_app(language="en")
    async with app.run_test(size=(120, 40)) as pilot:
        seen = await walk(app, pilot)
    found = {screen: words_of(DUTCH, footer(text)) for screen, text in seen.items()}
    assert not any(found.values()), found
    assert "Quit" in footer(seen["overview"])


async def test_english_shows_no_dutch_of_the_console(make_app: AppFactory) -> None:
    app = make_app(language="en")
    async with app.run_test(size=(120, 40)) as pilot:
        seen = await walk(app, pilot)
    found = {screen: words_of(DUTCH, text) for screen, text in seen.items()}
    assert not any(found.values()), found


async def test_dutch_shows_no_english_of_the_console(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        seen = await walk(app, pilot)
    found = {screen: words_of(ENGLISH, text) for screen, text in seen.items()}
    assert not any(found.values()), found


async def test_dutch_shows_no_english_of_the_command_palette(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "facturen")
        await pilot.press("ctrl+p")
        await pilot.pause()
        empty = screen_text(app)
        await pilot.press(*"zzzq")
        # Textual says there is no match after a countdown of half a second.
        await wait_until(
            pilot,
            lambda: any(
                words in screen_text(app) for words in ("Geen commando gevonden", "No matches found")
            ),
            "the palette saying nothing matches",
        )
        nothing = screen_text(app)
    assert "Search for commands" not in empty
    assert "Zoek een commando" in empty
    assert "No matches found" not in nothing and "Geen commando gevonden" in nothing, nothing
