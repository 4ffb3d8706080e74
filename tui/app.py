"""The Koppelaar console: a thin App that wires screens, key bindings, the command palette and the
embedded scheduler. Everything it shows or changes goes through sync.workspace.Workspace."""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar, cast

from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.notifications import SeverityLevel
from textual.worker import Worker, WorkerState

from state.home import Home
from state.store import Store
from sync.logfile import log_to_file
from sync.scheduler import RENEW_SECONDS, NightlyScheduler
from sync.workspace import ActiveRun, RunReport, RunRequested, Workspace
from tui.commands import KoppelaarCommands, Palette
from tui.i18n import _, say, set_language
from tui.screens.overview import OverviewScreen
from tui.screens.quit import QuitAnswer, QuitScreen


class KoppelaarApp(App[None]):
    CSS_PATH = "koppelaar.tcss"
    TITLE = "Koppelaar"
    COMMANDS: ClassVar = App.COMMANDS | {KoppelaarCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", _("Afsluiten"), id="quit"),
        Binding("question_mark,f1", "help", _("Help"), id="help"),
        Binding("ctrl+p", "command_palette", _("Commando's"), show=False, id="command-palette"),
    ]

    def __init__(
        self,
        home: Home,
        *,
        read_only: bool = False,
        language: str | None = None,
        embedded_scheduler: bool = True,
    ) -> None:
        self.workspace = Workspace(home, read_only=read_only)
        self.log_file = log_to_file(home.root)  # where a run's traceback goes (the foutmelding says so)
        set_language(language or self.workspace.settings.app.language)
        super().__init__()
        self.home = home
        self.read_only = read_only
        self.embedded_scheduler = embedded_scheduler and not read_only
        self._scheduler_store: Store | None = None
        self._scheduler: NightlyScheduler | None = None
        self._quit_when_idle = False  # the admin chose to quit once the busy runs have ended
        if self.read_only:
            # In the title, not the sub-title: every screen sets its own sub-title (the koppeling's
            # name), and support staff must see on each screen that nothing they do is saved.
            self.title = f"Koppelaar — {_('Alleen-lezen')}"

    def on_mount(self) -> None:
        self._ui_loop = asyncio.get_running_loop()
        self.workspace.run_service.listeners.append(self._run_ended)
        self.set_keymap(self.workspace.settings.app.keymap)
        self.push_screen(OverviewScreen())
        if self.embedded_scheduler:
            # When no daemon holds the lease, the console schedules the nightly runs itself.
            self._scheduler_store = Store(self.home.database)
            self._scheduler = NightlyScheduler(
                self._scheduler_store,
                self.workspace.settings,
                self._scheduled_run,
                role="console",
                reload=lambda: self.workspace.settings,  # an edit in Instellingen reschedules
            )
            self.run_worker(self._scheduler.tick(), group="scheduler", exit_on_error=False)
            self.set_interval(RENEW_SECONDS, self._tick_scheduler)

    def _tick_scheduler(self) -> None:
        if self._scheduler is not None:
            self.run_worker(self._scheduler.tick(), group="scheduler", exclusive=True, exit_on_error=False)

    async def _scheduled_run(self, name: str, trigger: str) -> object:
        # Through the run service: a nightly run shows in the Overzicht and is waited for on quit.
        return await self.workspace.run_service.run(name, trigger)

    def _run_ended(self, run: ActiveRun) -> None:
        """From the run's thread: hand over to the interface's loop without waiting for it."""
        with contextlib.suppress(RuntimeError):  # the console has closed; the run is in the database
            self._ui_loop.call_soon_threadsafe(self._announce, run)

    def _announce(self, run: ActiveRun) -> None:
        """Every run that ends says so, whichever screen shows (the one that started it may be gone)."""
        error = run.error()
        if error is not None:
            self.notify(f"{run.koppeling}: {error}", title=_("Fout"), severity="error", timeout=10)
        else:
            result = run.result()
            if isinstance(result, RunRequested):
                pass  # the Status tab says the daemon took it
            elif isinstance(result, RunReport):
                severity: SeverityLevel = "information" if result.status.value == "ok" else "warning"
                self.notify(say(result.message), title=run.koppeling, severity=severity)
        if self._quit_when_idle and not self.workspace.run_service.busy():
            self.exit()

    async def action_quit(self) -> None:
        busy = self.workspace.run_service.busy()
        if not busy:
            self.exit()
            return

        def answered(answer: QuitAnswer | None) -> None:
            if answer in ("wait", "stop"):
                if answer == "stop":
                    self.workspace.run_service.stop_all()
                self._quit_when_idle = True
                self.notify(_("Koppelaar sluit af zodra de run klaar is."), title=_("Afsluiten"))
                if not self.workspace.run_service.busy():
                    self.exit()

        self.push_screen(QuitScreen([run.koppeling for run in busy]), answered)

    @property
    def holds_scheduler(self) -> bool:
        return self._scheduler is not None and self._scheduler.holding

    def action_command_palette(self) -> None:
        # Textual's own placeholder is English whatever the console's language.
        if self.use_command_palette and not CommandPalette.is_open(cast("App[object]", self)):
            self.push_screen(Palette(id="--command-palette", placeholder=_("Zoek een commando…")))

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.screen))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # A failing worker must say why, not vanish: the admin sees an error toast with the reason.
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.notify(str(event.worker.error), title=_("Fout"), severity="error", timeout=10)

    async def on_unmount(self) -> None:
        # However the console ends, a busy run stops safely: its in-flight bookings settle first.
        self.workspace.run_service.stop_all()
        await asyncio.to_thread(self.workspace.run_service.wait)
        if self._scheduler is not None:
            self._scheduler.shutdown()
        if self._scheduler_store is not None:
            self._scheduler_store.close()
