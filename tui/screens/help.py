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
    """One line per binding reachable from the focused widget up to the app, with all its keys.

    Unlike the footer, a key the focused widget also binds does not hide the screen's own binding:
    the overview's table selects on enter, and the help must still say that enter opens a koppeling.
    """
    keys: dict[str, list[str]] = {}
    described: dict[str, Binding] = {}
    # The modal chain is what the footer walks too; Textual offers no public equivalent.
    for namespace, bindings in screen._modal_binding_chain:
        for _key, binding in bindings:
            if not binding.description or not (binding.id or binding.show):
                continue  # Textual's own hidden keys (cursor movement and the like)
            if screen.app._check_action_state(binding.action, namespace) is False:
                continue
            ident = binding.id or binding.action
            display = screen.app.get_key_display(binding)
            if display not in keys.setdefault(ident, []):
                keys[ident].append(display)
            described.setdefault(ident, binding)
    lines = []
    for ident, binding in described.items():
        label = f"  [dim]({binding.id})[/]" if binding.id else ""
        lines.append(f"  {'/'.join(keys[ident]):<12} {binding.description}{label}")
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
