"""The command palette (ctrl+p): open a koppeling or its tabs, run it, dry-run it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from rich.align import Align
from rich.text import Text
from textual.command import CommandList, CommandPalette, DiscoveryHit, Hit, Hits, Provider
from textual.widgets.option_list import Option

from tui.i18n import _

if TYPE_CHECKING:
    from tui.app import KoppelaarApp


class KoppelaarCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        from tui.screens.koppeling import KoppelingScreen

        app = cast("KoppelaarApp", self.app)
        commands: list[tuple[str, Callable[[], object], str]] = []
        for name in app.workspace.settings.koppelingen:
            for tab in ("status", "foutmeldingen", "mapping", "runs", "instellingen"):
                label = {
                    "status": _("Status"),
                    "foutmeldingen": _("Foutmeldingen"),
                    "mapping": _("Mapping"),
                    "runs": _("Runs"),
                    "instellingen": _("Instellingen"),
                }[tab]
                commands.append(
                    (
                        f"{name}: {label}",
                        partial(app.push_screen, KoppelingScreen(name, tab)),
                        f"{_('Koppeling')} {name}",
                    )
                )
            if not app.read_only:
                commands.append(
                    (
                        f"{name}: {_('Nu synchroniseren')}",
                        partial(app.push_screen, KoppelingScreen(name, "status", run=True)),
                        _("boekt nu, met voortgang"),
                    )
                )
            commands.append(
                (
                    f"{name}: {_('Dry-run')}",
                    partial(app.push_screen, KoppelingScreen(name, "status", dry_run=True)),
                    _("laat zien wat geboekt zou worden"),
                )
            )
        commands.extend(self._connection_commands(app))
        commands.append((_("Help"), app.action_help, _("toetsen van dit scherm")))
        return commands

    def _connection_commands(self, app: KoppelaarApp) -> list[tuple[str, Callable[[], object], str]]:
        """Per connection: the connect wizard, and disconnecting (wipes its secrets, after a question)."""
        from tui.screens.connect import confirm_disconnect, open_connect

        commands: list[tuple[str, Callable[[], object], str]] = []
        for name, vendor in app.workspace.wizard_connections().items():
            commands.append(
                (
                    f"{name}: {_('Opnieuw verbinden')}",
                    partial(open_connect, app, name),
                    f"{_('Maak verbinding met')} {vendor}",
                )
            )
            if not app.read_only:
                commands.append(
                    (
                        f"{name}: {_('Verbinding verbreken')}",
                        partial(confirm_disconnect, app, name),
                        _("wist de geheimen; vraagt eerst om bevestiging"),
                    )
                )
        return commands

    async def discover(self) -> Hits:
        for title, callback, help_text in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> AsyncIterator[Hit]:
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class Palette(CommandPalette):
    """Textual's command palette with its own words in the console's language: the placeholder is a
    parameter, but 'No matches found' is written inside a private countdown, so that one is redone here
    (textual 8.2, command.py `_start_no_matches_countdown`; tests/tui/test_language.py notices a change)."""

    def _start_no_matches_countdown(self, search_value: str) -> None:
        self._stop_no_matches_countdown()

        def show_no_matches() -> None:
            if search_value:
                self.query_one(CommandList).add_option(
                    Option(
                        Align.center(Text(_("Geen commando gevonden"), style="not bold")),
                        disabled=True,
                        id=self._NO_MATCHES,
                    )
                )
            # Nothing searched: discovery mode, where an empty list needs no message.
            self._list_visible = bool(search_value)

        self._no_matches_timer = self.set_timer(self._NO_MATCHES_COUNTDOWN, show_no_matches)
