"""Status tab: connection checks with their reasons, and the actions on a koppeling with live progress."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar, Literal, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.dom import DOMNode
from textual.widgets import Button, Static

from sync.workspace import (
    ActiveRun,
    AlreadyRunning,
    CheckResult,
    ConfigError,
    Health,
    Progress,
    RunReport,
    RunRequested,
)
from tui.i18n import _, say
from tui.screens.confirm import ConfirmScreen
from tui.screens.overview import RUN_WORD

if TYPE_CHECKING:
    from tui.app import KoppelaarApp

FOLLOW_SECONDS = 0.25  # how often the tab looks at its koppeling's run


def hide_keys(node: DOMNode, ids: tuple[str, ...]) -> None:
    """Leave the bindings with these ids out of the footer for this widget only (its own copy)."""
    for key, bindings in node._bindings.key_to_bindings.items():
        node._bindings.key_to_bindings[key] = [
            replace(binding, show=False) if binding.id in ids else binding for binding in bindings
        ]


def progress_text(p: Progress) -> str:
    return (
        f"{p.phase}: {p.fetched} {_('opgehaald')}, {p.booked} {_('geboekt')},"
        f" {p.already_present} {_('al aanwezig')}, {p.failed + p.parked} {_('fout')},"
        f" {p.uncertain} {_('onzeker')}, {p.skipped} {_('al verwerkt')}"
    ) + (f"\n{_('wacht op')} {p.waiting} {_('tot')} {p.waiting_until:%H:%M:%S}" if p.waiting_until else "")


def report_text(report: RunReport) -> str:
    status = _(RUN_WORD.get(report.status.value, report.status.value))  # 'mislukt', not 'failed'
    lines = [f"{_('Dry-run') if report.dry_run else 'Run'}: {status} — {say(report.message)}"]
    for planned in report.planned[:200]:
        lines.append(f"  {planned.invoice_number}  {planned.relation}  {planned.gross} EUR")
        lines.extend(f"      {acc}  {code}  {net} + {vat}" for acc, code, net, vat in planned.lines)
    if len(report.planned) > 200:
        lines.append(f"  … +{len(report.planned) - 200}")
    lines.extend(f"  ! {say(problem)}" for problem in report.problems[:50])
    return "\n".join(lines)


class StatusTab(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [
        # Short labels: all six, esc and ? fit one footer line at 80 columns; the buttons say them whole.
        Binding("n", "run", _("Sync"), id="run-now"),
        Binding("d", "dry_run", _("Dry-run"), id="dry-run"),
        Binding("p", "toggle_pause", _("Pauze"), id="pause"),
        Binding("x", "toggle_active", _("Deactiveren"), id="deactivate"),
        Binding("c", "check", _("Controle"), id="check"),
        Binding("v", "reconnect", _("Verbinden"), id="reconnect"),
    ]

    # Focusable itself, so n/d/p/x/c/v work as soon as the tab shows without Enter firing a button.
    can_focus = True

    def __init__(self, koppeling: str) -> None:
        super().__init__(id="status-tab")
        self.koppeling = koppeling
        self._shown: ActiveRun | None = None  # the finished run whose report is on screen
        self._one_at_a_time = threading.Lock()  # p p typed quickly: the second toggles what the first saved

    @property
    def koppelaar(self) -> KoppelaarApp:
        return cast("KoppelaarApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static("", id="connections")
        with Horizontal(id="actions"):
            yield Button(_("Nu synchroniseren") + " (n)", id="run", variant="primary")
            yield Button(_("Dry-run") + " (d)", id="dry")
            yield Button(_("Pauzeren") + " (p)", id="pause")
            yield Button(_("Deactiveren") + " (x)", id="deactivate")
            yield Button(_("Controleren") + " (c)", id="check")
            yield Button(_("Opnieuw verbinden") + " (v)", id="reconnect")
        yield Static("", id="progress")
        yield Static("", id="report")

    def on_mount(self) -> None:
        for button in self.query("#actions Button").results(Button):
            # Borderless: six actions in two rows of three fit 80x24 with room for the run report.
            button.compact = True
        if self.koppelaar.read_only:
            for button_id in ("run", "pause", "deactivate"):
                self.query_one(f"#{button_id}", Button).disabled = True
            # Not offered in the footer; typed anyway, they still say why nothing happens.
            hide_keys(self, ("run-now", "pause", "deactivate"))
        self._show_flags()
        self.action_check()
        self._follow_run()
        self.set_interval(FOLLOW_SECONDS, self._follow_run)

    def on_show(self) -> None:
        if self.parent is not None and not self.parent.display:
            # A Show that arrives after the user already moved on (1 then 4 typed quickly): focusing
            # here would make the TabbedContent switch back to this tab.
            return
        focused = self.app.focused
        if focused is None or self not in focused.ancestors_with_self:
            # Opening the koppeling (or pressing 1) leaves the focus on the tab bar, where this tab's
            # keys would not work.
            self.focus()

    def _show_flags(self) -> None:
        koppeling = self.koppelaar.workspace.settings.koppelingen[self.koppeling]
        self.query_one("#pause", Button).label = (
            _("Hervatten") if koppeling.paused else _("Pauzeren")
        ) + " (p)"
        self.query_one("#deactivate", Button).label = (
            _("Activeren") if koppeling.deactivated else _("Deactiveren")
        ) + " (x)"

    # -- checks -------------------------------------------------------------------------------------

    @work(exclusive=True, group="check")
    async def action_check(self) -> None:
        koppeling = self.koppelaar.workspace.settings.koppelingen[self.koppeling]
        box = self.query_one("#connections", Static)
        box.update(_("Verbindingen controleren…"))
        lines = []
        for role, name in ((_("Bron"), koppeling.source), (_("Doel"), koppeling.target)):
            try:
                result = await asyncio.wait_for(self.koppelaar.workspace.check(name), timeout=60)
            except Exception as exc:  # shown, not raised: a check is diagnosis
                result = CheckResult(Health.UNREACHABLE, str(exc))
            mark = "[$success]✓[/]" if result.ok else "[$error]✗[/]"
            lines.append(f"{mark} {role} {name}: {say(result.reason)}")
            if result.advice:
                lines.append(f"    {_('Wat te doen')}: {say(result.advice)}")
        box.update("\n".join(lines))

    # -- runs ---------------------------------------------------------------------------------------

    def action_run(self) -> None:
        self.start_run(dry_run=False)

    def action_dry_run(self) -> None:
        self.start_run(dry_run=True)

    def start_run(self, *, dry_run: bool) -> None:
        if self.koppelaar.read_only and not dry_run:
            self.app.notify(_("Alleen-lezen: synchroniseren is niet toegestaan."), severity="warning")
            return
        try:
            self.koppelaar.workspace.run_service.start(self.koppeling, dry_run=dry_run)
        except AlreadyRunning:
            self.app.notify(_("Er loopt al een run."), severity="warning")
            return
        self.query_one("#progress", Static).update(_("Starten…"))
        self._follow_run()

    @property
    def running(self) -> bool:
        run = self.koppelaar.workspace.run_service.current(self.koppeling)
        return run is not None and not run.done

    def _follow_run(self) -> None:
        """Show the run of this koppeling that the program is running (or ran last): the run belongs
        to the run service, so leaving this screen and coming back finds it still going."""
        run = self.koppelaar.workspace.run_service.current(self.koppeling)
        if run is None or run is self._shown:
            return
        if not run.done:
            self.query_one("#progress", Static).update(progress_text(run.snapshot()))
            return
        self._shown = run
        error = run.error()
        if error is not None:
            self.query_one("#progress", Static).update(Text.assemble((_("Fout"), "bold red"), f": {error}"))
            return
        result = run.result()
        if isinstance(result, RunRequested):
            text = _("De daemon plant de runs; de run is aan hem doorgegeven") + f" ({result.holder})."
            self.query_one("#progress", Static).update(text)
        elif isinstance(result, RunReport):
            self.query_one("#progress", Static).update(progress_text(result.progress))
            self.query_one("#report", Static).update(report_text(result))

    # -- flags --------------------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self._set_flag("paused", None)

    def action_toggle_active(self) -> None:
        deactivated = self.koppelaar.workspace.settings.koppelingen[self.koppeling].deactivated
        if deactivated:
            self._set_flag("deactivated", False)
            return
        question = _("Koppeling deactiveren? Er draait niets meer tot u hem weer activeert.")

        def answered(yes: bool | None) -> None:
            if yes:
                self._set_flag("deactivated", True)

        self.app.push_screen(ConfirmScreen(f"{self.koppeling}: {question}"), answered)

    @work(thread=True, group="status-flags", exit_on_error=False)
    def _set_flag(self, flag: Literal["paused", "deactivated"], on: bool | None) -> None:
        """Write the flag into koppelaar.toml and the audit log, off the event loop; `on=None` turns it
        the other way round from what is saved."""
        workspace = self.koppelaar.workspace
        with self._one_at_a_time:
            if on is None:
                koppeling = workspace.settings.koppelingen[self.koppeling]
                on = not (koppeling.paused if flag == "paused" else koppeling.deactivated)
            try:
                workspace.set_flag(self.koppeling, flag, on)
            except (ConfigError, PermissionError, OSError) as exc:
                self.app.call_from_thread(self.app.notify, str(exc), severity="warning")
                return
        self.app.call_from_thread(self._show_flags)

    # -- connections --------------------------------------------------------------------------------

    def action_reconnect(self) -> None:
        from tui.screens.connect import reconnect

        def done(connected: bool) -> None:
            if connected:
                self.action_check()

        reconnect(self.app, self.koppeling, done)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        actions: dict[str, Callable[[], object]] = {
            "run": self.action_run,
            "dry": self.action_dry_run,
            "pause": self.action_toggle_pause,
            "deactivate": self.action_toggle_active,
            "check": self.action_check,
            "reconnect": self.action_reconnect,
        }
        action = actions.get(event.button.id or "")
        if action is not None:
            action()
