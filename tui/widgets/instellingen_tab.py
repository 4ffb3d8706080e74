"""Instellingen tab: the schedule (cron, timezone, next fire times), retries of a failed scheduled run,
and the currency policy."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static

from state.config import ConfigError
from state.settings import CurrencyPolicy
from tui.i18n import _

if TYPE_CHECKING:
    from tui.app import KoppelaarApp

DELAYS = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240)  # minutes; a hand-edited other value is added
DAYS = ("ma", "di", "wo", "do", "vr", "za", "zo")


# The option lists are made with the tab, not at import: the console's language is chosen later.
def policy_options() -> list[tuple[str, str]]:
    return [
        (_("Omrekenen naar euro's tegen de ECB-koers van de factuurdatum"), CurrencyPolicy.CONVERT_ECB.value),
        (_("Weigeren: vreemde valuta wordt een foutmelding"), CurrencyPolicy.REFUSE.value),
    ]


def retry_options() -> list[tuple[str, int]]:
    return [(_("niet herhalen"), 0)] + [(_("{n} keer herhalen").format(n=n), n) for n in range(1, 6)]


def delay_options(current: int) -> list[tuple[str, int]]:
    return [(_("na {n} minuten").format(n=n), n) for n in sorted({*DELAYS, current})]


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
        read_only = self.koppelaar.read_only
        yield Label(_("Planning (cron, tijdzone") + f" {settings.app.timezone})")
        yield Input(koppeling.schedule, id="schedule", disabled=read_only)
        yield Static("", id="next-fires")
        yield Label(_("Herhalen als een geplande run mislukt (niet bij een inlogfout)"))
        with Horizontal(id="retry-settings"):
            yield Select(
                retry_options(), value=koppeling.retries, allow_blank=False, id="retries", disabled=read_only
            )
            yield Select(
                delay_options(koppeling.retry_delay_minutes),
                value=koppeling.retry_delay_minutes,
                allow_blank=False,
                id="retry-delay",
                disabled=read_only,
            )
        yield Label(_("Vreemde valuta"))
        yield Select(
            policy_options(),
            value=koppeling.currency_policy.value,
            allow_blank=False,
            id="currency",
            disabled=read_only,
        )
        yield Static("", id="settings-message")

    def on_mount(self) -> None:
        self._show_fires()

    def _show_fires(self) -> None:
        lines = []
        for run in self.koppelaar.workspace.next_runs(self.koppeling, 5):
            # Day names through _(): strftime's %a would say 'Sun' in a Dutch console (the C locale).
            line = f"  {_(DAYS[run.at.weekday()])} {run.at:%d-%m-%Y %H:%M %Z}"
            if run.retry:
                line += f"  {_('herhaling')} {run.retry}/{run.retries}"
            lines.append(line)
        self.query_one("#next-fires", Static).update(_("Volgende runs:") + "\n" + "\n".join(lines))

    @on(Input.Submitted, "#schedule")
    def _schedule(self, event: Input.Submitted) -> None:
        self._save(("schedule",), event.value.strip())
        self._show_fires()

    @on(Select.Changed, "#retries")
    @on(Select.Changed, "#retry-delay")
    def _retry_setting(self, event: Select.Changed) -> None:
        key = "retries" if event.select.id == "retries" else "retry_delay_minutes"
        current = getattr(self.koppelaar.workspace.settings.koppelingen[self.koppeling], key)
        if isinstance(event.value, int) and event.value != current:
            self._save((key,), event.value)
            self._show_fires()  # a pending retry shows as 'herhaling n/retries'

    @on(Select.Changed, "#currency")
    def _currency(self, event: Select.Changed) -> None:
        current = self.koppelaar.workspace.settings.koppelingen[self.koppeling].currency_policy.value
        if isinstance(event.value, str) and event.value != current:
            self._save(("currency_policy",), event.value)

    def _save(self, keys: tuple[str, ...], value: str | int) -> None:
        message = self.query_one("#settings-message", Static)
        try:
            self.koppelaar.workspace.save_setting(self.koppeling, keys, value)
        except (ConfigError, PermissionError) as exc:
            message.update(f"[$error]{exc}[/]")
            return
        message.update(f"[$success]{_('Opgeslagen in koppelaar.toml.')}[/]")
