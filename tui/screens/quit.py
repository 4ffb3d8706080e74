"""Quitting while a run is busy: wait for it, stop it safely, or stay."""

from __future__ import annotations

from typing import ClassVar, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.i18n import _

QuitAnswer = Literal["wait", "stop", "stay"]


class QuitScreen(ModalScreen[QuitAnswer]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "answer('wait')", _("Wachten"), id="quit-wait"),
        Binding("s", "answer('stop')", _("Veilig stoppen"), id="quit-stop"),
        Binding("escape,n", "answer('stay')", _("Niet afsluiten"), id="quit-stay"),
    ]

    def __init__(self, busy: list[str]) -> None:
        super().__init__()
        self.busy = busy

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(
                _("Er loopt nog een run")
                + f": {', '.join(self.busy)}.\n"
                + _("Wachten tot hij klaar is, of veilig stoppen: wat onderweg is wordt afgemaakt,")
                + " "
                + _("de rest volgt bij de volgende run."),
                id="question",
            )
            with Horizontal():
                yield Button(_("Wachten") + " (w)", id="wait", variant="primary")
                yield Button(_("Veilig stoppen") + " (s)", id="stop", variant="warning")
                yield Button(_("Niet afsluiten") + " (esc)", id="stay")

    def on_mount(self) -> None:
        for button in self.query(Button).results(Button):
            button.compact = True
        self.query_one("#stay", Button).focus()  # the safe answer is the default

    def action_answer(self, answer: QuitAnswer) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        answer: QuitAnswer = (
            "wait" if event.button.id == "wait" else "stop" if event.button.id == "stop" else "stay"
        )
        self.dismiss(answer)
