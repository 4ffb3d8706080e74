"""`?` help: the keys of the screen you came from, with their binding ids (for the keymap setting)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from tui.i18n import _


def key_lines(screen: Screen[object]) -> list[str]:
    """One line per action reachable from the focused widget up to the app, as the footer sees them."""
    lines = []
    seen: set[str] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.action in seen or not binding.description:
            continue
        seen.add(binding.action)
        ident = f"  [dim]({binding.id})[/]" if binding.id else ""
        lines.append(f"  {screen.app.get_key_display(binding):<12} {binding.description}{ident}")
    return lines


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", _("Sluiten"))]

    def __init__(self, for_screen: Screen[object]) -> None:
        super().__init__()
        self.lines = key_lines(for_screen)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(f"[b]{_('Toetsen')}[/b]\n" + "\n".join(self.lines), id="keys")
            yield Static(
                _("ctrl+p opent het commandopalet; / filtert elke lijst; toetsen zijn aan te passen met")
                + " [b]app.keymap[/b] "
                + _("in koppelaar.toml (binding-id = toets)."),
                id="help-hint",
            )
