"""Instellingen tab: the schedule (cron, timezone, next fire times), retries of a failed scheduled run,
and the currency policy."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, cast

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static

from sync.workspace import ConfigError, CurrencyPolicy
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
        self._one_at_a_time = threading.Lock()  # two quick changes: the second must read the first's file

    @property
    def koppelaar(self) -> KoppelaarApp:
        return cast("KoppelaarApp", self.app)

    def compose(self) -> ComposeResult:
        settings = self.koppelaar.workspace.settings
        koppeling = settings.koppelingen[self.koppeling]
        read_only = self.koppelaar.read_only
        yield Label(_("Planning (cron, tijdzone") + f" {settings.app.timezone})")
        yield Input(koppeling.schedule, id="schedule", disabled=read_only)
        # Right under the input: at 80x24 a message below the other settings ends off-screen.
        yield Static("", id="settings-message").set_styles("display: none;")
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

    def on_mount(self) -> None:
        self._work()

    @work(thread=True, group="instellingen")
    def _work(self, keys: tuple[str, ...] = (), value: str | int = "") -> None:
        """Save a setting (koppelaar.toml and the audit log) when asked, then read the next runs (the
        store, for a pending retry): file and database work, off the event loop."""
        with self._one_at_a_time:
            self._save_and_read(keys, value)

    def _save_and_read(self, keys: tuple[str, ...], value: str | int) -> None:
        message = None
        if keys:
            try:
                self.koppelaar.workspace.save_setting(self.koppeling, keys, value)
                message = f"[$success]{_('Opgeslagen in koppelaar.toml.')}[/]"
            except (ConfigError, PermissionError) as exc:
                message = f"[$error]{escape(str(exc))}[/]"
        lines = []
        for run in self.koppelaar.workspace.next_runs(self.koppeling, 5):
            # Day names through _(): strftime's %a would say 'Sun' in a Dutch console (the C locale).
            line = f"  {_(DAYS[run.at.weekday()])} {run.at:%d-%m-%Y %H:%M %Z}"
            if run.retry:
                line += f"  {_('herhaling')} {run.retry}/{run.retries}"  # a pending retry comes first
            lines.append(line)
        self.app.call_from_thread(self._show, message, _("Volgende runs:") + "\n" + "\n".join(lines))

    def _show(self, message: str | None, fires: str) -> None:
        if message is not None:
            box = self.query_one("#settings-message", Static)
            box.update(message)
            box.display = True
        self.query_one("#next-fires", Static).update(fires)

    @on(Input.Submitted, "#schedule")
    def _schedule(self, event: Input.Submitted) -> None:
        self._work(("schedule",), event.value.strip())

    @on(Select.Changed, "#retries")
    @on(Select.Changed, "#retry-delay")
    def _retry_setting(self, event: Select.Changed) -> None:
        key = "retries" if event.select.id == "retries" else "retry_delay_minutes"
        current = getattr(self.koppelaar.workspace.settings.koppelingen[self.koppeling], key)
        if isinstance(event.value, int) and event.value != current:
            self._work((key,), event.value)

    @on(Select.Changed, "#currency")
    def _currency(self, event: Select.Changed) -> None:
        current = self.koppelaar.workspace.settings.koppelingen[self.koppeling].currency_policy.value
        if isinstance(event.value, str) and event.value != current:
            self._work(("currency_policy",), event.value)
