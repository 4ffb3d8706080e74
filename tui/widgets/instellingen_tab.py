"""Instellingen tab: the schedule (cron, timezone, next fire times) and the currency policy."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, Select, Static

from state.config import ConfigError
from state.settings import CurrencyPolicy
from tui.i18n import _

if TYPE_CHECKING:
    from tui.app import KoppelaarApp

POLICIES = [
    (_("Omrekenen naar euro's tegen de ECB-koers van de factuurdatum"), CurrencyPolicy.CONVERT_ECB.value),
    (_("Weigeren: vreemde valuta wordt een foutmelding"), CurrencyPolicy.REFUSE.value),
]


DAYS = ("ma", "di", "wo", "do", "vr", "za", "zo")


class InstellingenTab(Vertical):
    def __init__(self, koppeling: str) -> None:
        super().__init__(id="instellingen-tab")
        self.koppeling = koppeling

    @property
    def koppelaar(self) -> KoppelaarApp:
        return cast("KoppelaarApp", self.app)

    def compose(self) -> ComposeResult:
        settings = self.koppelaar.workspace.settings
        koppeling = settings.koppelingen[self.koppeling]
        yield Label(_("Planning (cron, tijdzone") + f" {settings.app.timezone})")
        yield Input(koppeling.schedule, id="schedule", disabled=self.koppelaar.read_only)
        yield Static("", id="next-fires")
        yield Label(_("Vreemde valuta"))
        yield Select(
            POLICIES,
            value=koppeling.currency_policy.value,
            allow_blank=False,
            id="currency",
            disabled=self.koppelaar.read_only,
        )
        yield Static("", id="settings-message")

    def on_mount(self) -> None:
        self._show_fires()

    def _show_fires(self) -> None:
        times = self.koppelaar.workspace.next_fire_times(self.koppeling, 5)
        # Day names through _(): strftime's %a would say 'Sun' in a Dutch console (the C locale).
        text = "\n".join(f"  {_(DAYS[t.weekday()])} {t:%d-%m-%Y %H:%M %Z}" for t in times)
        self.query_one("#next-fires", Static).update(_("Volgende runs:") + "\n" + text)

    @on(Input.Submitted, "#schedule")
    def _schedule(self, event: Input.Submitted) -> None:
        self._save(("schedule",), event.value.strip())
        self._show_fires()

    @on(Select.Changed, "#currency")
    def _currency(self, event: Select.Changed) -> None:
        current = self.koppelaar.workspace.settings.koppelingen[self.koppeling].currency_policy.value
        if isinstance(event.value, str) and event.value != current:
            self._save(("currency_policy",), event.value)

    def _save(self, keys: tuple[str, ...], value: str) -> None:
        message = self.query_one("#settings-message", Static)
        try:
            self.koppelaar.workspace.save_setting(self.koppeling, keys, value)
        except (ConfigError, PermissionError) as exc:
            message.update(f"[$error]{exc}[/]")
            return
        message.update(f"[$success]{_('Opgeslagen in koppelaar.toml.')}[/]")
