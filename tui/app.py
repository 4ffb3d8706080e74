"""The Koppelaar console: a thin App that wires screens, key bindings, the command palette and the
embedded scheduler. Everything it shows or changes goes through sync.workspace.Workspace."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.worker import Worker, WorkerState

from state.home import Home
from state.store import Store
from sync.engine import RunReport
from sync.scheduler import RENEW_SECONDS, NightlyScheduler
from sync.service import run_koppeling
from sync.workspace import Workspace
from tui.commands import KoppelaarCommands
from tui.i18n import _, set_language
from tui.screens.overview import OverviewScreen


class KoppelaarApp(App[None]):
    CSS_PATH = "koppelaar.tcss"
    TITLE = "Koppelaar"
    COMMANDS: ClassVar = App.COMMANDS | {KoppelaarCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", _("Afsluiten"), id="quit"),
        Binding("question_mark,f1", "help", _("Help"), id="help"),
        Binding("ctrl+p", "command_palette", "Commando's", show=False, id="command-palette"),
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
        set_language(language or self.workspace.settings.app.language)
        super().__init__()
        self.home = home
        self.read_only = read_only
        self.embedded_scheduler = embedded_scheduler and not read_only
        self._scheduler_store: Store | None = None
        self._scheduler: NightlyScheduler | None = None
        if self.read_only:
            # In the title, not the sub-title: every screen sets its own sub-title (the koppeling's
            # name), and support staff must see on each screen that nothing they do is saved.
            self.title = f"Koppelaar — {_('Alleen-lezen')}"

    def on_mount(self) -> None:
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

    async def _scheduled_run(self, name: str, trigger: str) -> RunReport:
        report = await run_koppeling(self.home, name, trigger=trigger)
        self.notify(f"{name}: {report.message}", title=_("Koppeling"))
        return report

    @property
    def holds_scheduler(self) -> bool:
        return self._scheduler is not None and self._scheduler.holding

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.screen))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # A failing worker must say why, not vanish: the admin sees an error toast with the reason.
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.notify(str(event.worker.error), title=_("Fout"), severity="error", timeout=10)

    async def on_unmount(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown()
        if self._scheduler_store is not None:
            self._scheduler_store.close()
