"""Runs tab: the history of runs, and per run what happened to each record."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from sync.workspace import RunRow
from tui.i18n import _, say
from tui.screens.overview import RUN_STYLE, RUN_WORD, day_and_time

if TYPE_CHECKING:
    from tui.app import KoppelaarApp

# Why a run ran, in Dutch: the store keeps the engine's English words.
TRIGGER = {
    "manual": "handmatig",
    "schedule": "gepland",
    "catch_up": "ingehaald",
    "retry": "herhaling",  # of a failed scheduled run (sync/scheduler.py)
    "console": "console",
}

OUTCOME = {
    "booked": "geboekt",
    "duplicate": "al aanwezig (dubbel voorkomen)",
    "failed": "fout",
    "uncertain": "onzeker",
}


class RunsTab(Vertical):
    def __init__(self, koppeling: str) -> None:
        super().__init__(id="runs-tab")
        self.koppeling = koppeling
        self._messages: dict[int, str] = {}  # per run id, its message as shown

    @property
    def koppelaar(self) -> KoppelaarApp:
        return cast("KoppelaarApp", self.app)

    def compose(self) -> ComposeResult:
        runs: DataTable[str] = DataTable(id="runs", cursor_type="row")
        yield runs
        yield Static(_("Kies een run voor de uitkomst per record."), id="run-detail-title")
        records: DataTable[str] = DataTable(id="run-records", cursor_type="row")
        yield records

    def on_mount(self) -> None:
        # Short headers and 'dd-mm hh:mm': at 80 columns the message still shows.
        self.query_one("#runs", DataTable).add_columns(
            "#",
            _("Start"),
            _("Aanleiding"),
            _("Status"),
            _("opgeh."),
            _("geboekt"),
            _("fout"),
            _("onz."),
            _("Melding"),
        )
        self.query_one("#run-records", DataTable).add_columns(_("Record"), _("Uitkomst"), _("Melding"))
        self.load()

    def on_show(self) -> None:
        # Pressing 4 leaves the focus on the tab bar: put it on the runs so arrows and / work at once.
        self.load()
        if self.parent is not None and not self.parent.display:
            return  # already moved on to another tab: focusing here would switch back to this one
        focused = self.app.focused
        if focused is None or self not in focused.ancestors_with_self:
            self.query_one("#runs", DataTable).focus()

    @work(thread=True, exclusive=True, group="runs")
    def load(self) -> None:
        runs = self.koppelaar.workspace.runs(self.koppeling)
        self.app.call_from_thread(self._show, runs)

    def _show(self, runs: list[RunRow]) -> None:
        table = self.query_one("#runs", DataTable)
        selected = self._selected_run(table)
        table.clear()
        self._messages = {r.id: say(r.message) for r in runs}
        if not runs:
            self.query_one("#run-detail-title", Static).update(_("Nog geen runs."))
        timezone = self.koppelaar.workspace.settings.app.timezone
        for r in runs:
            status = "dry-run" if r.dry_run else _(RUN_WORD.get(r.status, r.status))
            table.add_row(
                str(r.id),
                day_and_time(r.started_at, timezone),
                _(TRIGGER.get(r.trigger, r.trigger)),
                Text(status, style="dim" if r.dry_run else RUN_STYLE.get(r.status, "")),
                str(r.fetched),
                str(r.booked),
                str(r.failed),
                str(r.uncertain),
                Text(say(r.message)),
                key=str(r.id),
            )
        if not runs:
            return
        # Keep the run the user was looking at, and always show its records: a reload does not
        # reliably post RowHighlighted when the cursor stays on the same row.
        ids = [r.id for r in runs]
        row = ids.index(selected) if selected in ids else 0
        table.move_cursor(row=row)
        self.load_records(ids[row])

    @staticmethod
    def _selected_run(table: DataTable[str]) -> int | None:
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    @on(DataTable.RowHighlighted, "#runs")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.load_records(int(event.row_key.value))

    @work(thread=True, exclusive=True, group="run-records")
    def load_records(self, run_id: int) -> None:
        records = self.koppelaar.workspace.run_records(run_id)
        self.app.call_from_thread(self._show_records, run_id, records)

    def _show_records(self, run_id: int, records: list[tuple[str, str, str]]) -> None:
        # The Melding column is cut at 80 columns: the chosen run's message is said here in full.
        message = self._messages.get(run_id, "")
        title = f"Run {run_id}: {len(records)} records" + (f" — {message}" if message else "")
        self.query_one("#run-detail-title", Static).update(Text(title))
        table = self.query_one("#run-records", DataTable)
        table.clear()
        for reference, outcome, message in records[:2000]:
            table.add_row(Text(reference), _(OUTCOME.get(outcome, outcome)), Text(say(message)))
