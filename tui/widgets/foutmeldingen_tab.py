"""Foutmeldingen tab: a koppeling's grouped problems, what to do about them, and the records behind them.

It stays fast with 100,000 foutmeldingen because the table never holds more than one window of
WINDOW rows, fetched from SQLite by keyset (last_seen, id): when the cursor reaches either end of the
window it slides by STEP rows and the cursor stays on the same problem. Filtering happens in SQL.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, cast
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from sync.workspace import Foutmelding, ProblemWindow, ReadOnlyError, RunReport, RunRequested
from tui.i18n import _, language, say
from tui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from tui.app import KoppelaarApp

WINDOW = 200  # rows in the table at most
STEP = 100  # rows a window slides by when the cursor reaches its end
RECORDS = 500  # records shown in the drill-down (the count says how many more there are)

# The status filter cycles through these; None is "all".
STATUSES: tuple[str | None, ...] = ("open", "ignored", "resolved", None)
STATUS_LABEL = {"open": "open", "ignored": "genegeerd", "resolved": "opgelost", None: "alle"}
# ANSI colour names: they survive a 16-colour terminal (TERM=linux).
STATUS_STYLE = {"open": "yellow", "ignored": "dim", "resolved": "green"}
ORIGIN_LABEL = {
    "bron": "bron",
    "doel": "doel",
    "mapping": "mapping",
    "authenticatie": "authenticatie",
    "koppelaar": "koppelaar",
}
FIXED_COLUMNS = {"origin": 13, "count": 6, "last": 11, "status": 9}


def number(n: int) -> str:
    """100.000 in Dutch, 100,000 in English."""
    text = f"{n:,}"
    return text.replace(",", ".") if language() == "nl" else text


def origin_label(origin: str) -> str:
    # Authentication problems carry the connection: "authenticatie:boekhouding".
    kind, _sep, connection = origin.partition(":")
    label = _(ORIGIN_LABEL.get(kind, kind))
    return f"{label} ({connection})" if connection else label


class ProblemTable(DataTable[Text]):
    """The list of problems; ctrl+home / ctrl+end jump to the newest / oldest, beyond the loaded window."""

    class Jump(Message):
        def __init__(self, to_end: bool) -> None:
            super().__init__()
            self.to_end = to_end

    def action_scroll_top(self) -> None:
        super().action_scroll_top()
        self.post_message(self.Jump(False))

    def action_scroll_bottom(self) -> None:
        super().action_scroll_bottom()
        self.post_message(self.Jump(True))


class FoutmeldingenTab(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", _("Details"), id="foutmelding-details"),
        Binding("o", "retry", _("Opnieuw proberen"), id="foutmelding-retry"),
        Binding("i", "ignore", _("Negeren"), id="foutmelding-ignore"),
        Binding("m", "resolve", _("Opgelost"), id="foutmelding-resolve"),
        Binding("h", "reopen", _("Heropenen"), id="foutmelding-reopen"),
        Binding("s", "cycle_status", _("Status"), id="foutmeldingen-status"),
        Binding("slash", "filter", _("Filter"), id="foutmeldingen-filter"),
        Binding("r", "refresh", _("Vernieuwen"), show=False, id="foutmeldingen-refresh"),
        Binding("escape", "clear_filter", _("Filter wissen"), show=False, id="foutmeldingen-clear-filter"),
    ]

    class Counted(Message):
        """The number of open foutmeldingen, for the tab label "Foutmeldingen (n)"."""

        def __init__(self, koppeling: str, open_count: int) -> None:
            super().__init__()
            self.koppeling = koppeling
            self.open_count = open_count

    def __init__(self, koppeling: str) -> None:
        super().__init__(id="foutmeldingen-tab")
        self.koppeling = koppeling
        self.status: str | None = "open"
        self.filter_text = ""
        self.rows: list[Foutmelding] = []
        self.total = 0
        self.open_count: int | None = None  # for the tab label; posted only when it changes
        self.window_offset = 0  # position of the table's first row in the whole filtered list
        self.scan = False  # how the current list is read (see Workspace.foutmeldingen_window)
        self.loads = 0  # windows applied, for tests and the benchmark
        # Not `loading`: that is Textual's reactive that covers the widget with a spinner.
        self.fetching = False
        self.busy_retrying = False
        self._generation = 0
        self._detail_shown: Foutmelding | None = None

    @property
    def koppelaar(self) -> KoppelaarApp:
        return cast("KoppelaarApp", self.app)

    @property
    def painted(self) -> bool:
        """No window is being fetched: what the table shows is what was asked for."""
        return not self.fetching

    def compose(self) -> ComposeResult:
        yield Static("", id="fm-summary")
        box = Input(placeholder=_("Filter op melding, advies of code"), id="fm-filter")
        box.display = False  # shown by `/`
        yield box
        yield ProblemTable(id="fm-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="fm-detail")
        yield Static("", id="fm-empty")

    def on_mount(self) -> None:
        self._columns(self.size.width or 80)
        self.query_one("#fm-empty").display = False
        self.reload()

    def on_show(self) -> None:
        # The tab became visible (or its screen came back): show what the store says now.
        self.reload(keep_position=True)
        focused = self.app.focused
        if focused is None or self not in focused.ancestors_with_self:
            # Pressing 2 leaves the focus on the tab bar, where this tab's keys would not work.
            self.query_one(ProblemTable).focus()

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width and event.size.width != getattr(self, "_width", 0):
            self._columns(event.size.width)
            self._fill(self.query_one(ProblemTable).cursor_row)

    def _columns(self, width: int) -> None:
        self._width = width
        table = self.query_one(ProblemTable)
        table.clear(columns=True)
        # The message takes what the fixed columns leave (cell padding 2 each, scrollbar 2).
        message = max(20, width - sum(FIXED_COLUMNS.values()) - 2 * (len(FIXED_COLUMNS) + 1) - 2)
        table.add_column(_("Herkomst"), width=FIXED_COLUMNS["origin"], key="origin")
        table.add_column(_("Melding"), width=message, key="title")
        table.add_column(_("Aantal"), width=FIXED_COLUMNS["count"], key="count")
        table.add_column(_("Laatst"), width=FIXED_COLUMNS["last"], key="last")
        table.add_column(_("Status"), width=FIXED_COLUMNS["status"], key="status")

    # -- loading ------------------------------------------------------------------------------------

    def reload(self, *, keep_position: bool = False) -> None:
        """A fresh list from the store (after a filter, status change or action), counted again."""
        if keep_position and self.rows:
            # From the window's first row on: the keyset (last_seen, id + 1) includes that row itself.
            first = self.rows[0]
            self._load("refresh", after=(first.last_seen, first.id + 1), offset=self.window_offset)
        else:
            self._load("fresh")

    def _load(
        self,
        mode: str,
        *,
        after: tuple[str, int] | None = None,
        before: tuple[str, int] | None = None,
        offset: int = 0,
        limit: int = WINDOW,
    ) -> None:
        """mode: "fresh" (from the top), "refresh" (re-read in place), "forward"/"backward" (slide by
        `limit`), "end" (the oldest rows). Fresh and refresh count the list again."""
        self._generation += 1
        self.fetching = True
        self._fetch(self._generation, mode, self.status, self.filter_text, after, before, offset, limit)

    @work(thread=True, exclusive=True, group="fm-load", exit_on_error=False)
    def _fetch(
        self,
        generation: int,
        mode: str,
        status: str | None,
        text: str,
        after: tuple[str, int] | None,
        before: tuple[str, int] | None,
        offset: int,
        limit: int,
    ) -> None:
        window = self.koppelaar.workspace.foutmeldingen_window(
            self.koppeling,
            status=status,
            text=text,
            after=after,
            before=before,
            limit=limit,
            scan=None if mode in ("fresh", "refresh") else self.scan,
            count=mode in ("fresh", "refresh"),
        )
        self.app.call_from_thread(self._apply, generation, mode, window, offset)

    def _apply(self, generation: int, mode: str, window: ProblemWindow, offset: int) -> None:
        if generation != self._generation:
            return  # a newer filter or slide was asked for meanwhile: this answer is stale
        table = self.query_one(ProblemTable)
        cursor = table.cursor_row
        screen_row: int | None = None
        if window.total is not None:
            self.total = window.total
            self.scan = window.scan
        if window.open_count is not None and window.open_count != self.open_count:
            self.open_count = window.open_count
            self.post_message(self.Counted(self.koppeling, window.open_count))
        if mode in ("fresh", "refresh"):
            if mode == "refresh" and not window.rows and offset:
                self.reload()  # the rows in place are gone (resolved elsewhere): start from the top
                return
            if mode == "refresh" and window.rows == self.rows:
                # Nothing changed (the usual case when the tab is shown again): no refill, no repaint.
                self.fetching = False
                self._summary()
                self.loads += 1
                return
            self.rows = window.rows
            self.window_offset = offset
            if mode == "fresh":
                cursor = 0
        elif mode == "end":
            self.rows = window.rows
            self.window_offset = max(0, self.total - len(window.rows))
            cursor = len(window.rows) - 1
        else:
            # The cursor keeps its place on the screen while the rows slide under it.
            screen_row = cursor - round(table.scroll_y)
            if mode == "forward":
                # Drop as many rows at the top as arrived at the bottom.
                self.rows = self.rows[len(window.rows) :] + window.rows
                self.window_offset += len(window.rows)
                cursor -= len(window.rows)
            else:
                self.rows = window.rows + self.rows[: WINDOW - len(window.rows)]
                self.window_offset = max(0, self.window_offset - len(window.rows))
                cursor += len(window.rows)
        self.fetching = False
        self._fill(cursor, screen_row=screen_row)
        self.loads += 1

    def _fill(self, cursor: int, *, screen_row: int | None = None) -> None:
        table = self.query_one(ProblemTable)
        table.clear()
        table.add_rows(
            [
                (
                    Text(origin_label(p.origin)),
                    Text(say(p.title), no_wrap=True, overflow="ellipsis"),
                    Text(number(p.count), justify="right"),
                    Text(self._when(p.last_seen, short=True)),
                    Text(_(STATUS_LABEL.get(p.status, p.status)), style=STATUS_STYLE.get(p.status, "")),
                )
                for p in self.rows
            ]
        )
        empty = not self.rows
        self.set_class(empty, "-empty")
        self.query_one("#fm-empty").display = empty
        self.query_one("#fm-detail").display = not empty
        if empty:
            self.query_one("#fm-empty", Static).update(self._empty_text())
        else:
            row = max(0, min(cursor, len(self.rows) - 1))
            table.move_cursor(row=row, scroll=screen_row is None)
            if screen_row is not None:
                # The cursor keeps its place on the screen while the rows slide under it.
                self.call_after_refresh(table.scroll_to, y=max(0, row - screen_row), animate=False)
            self._show_detail(row)
        self._summary()

    def _empty_text(self) -> str:
        if self.filter_text:
            found = _("Geen foutmeldingen die '{text}' bevatten.").format(text=escape(self.filter_text))
            return f"{found}\n{_('Esc wist het filter.')}"
        if self.status == "open":
            return "\n".join(
                [
                    f"[b]{_('Geen foutmeldingen.')}[/b]",
                    _("Alles wat de laatste runs ophaalden is geboekt, of bewust genegeerd."),
                    _("Gaat er bij een run iets mis, dan staat het hier: wat er misging en wat te doen."),
                    _("Met s ziet u ook de genegeerde en opgeloste foutmeldingen."),
                ]
            )
        none = _("Geen foutmeldingen met status '{status}'.").format(status=_(STATUS_LABEL[self.status]))
        return f"{none}\n{_('Met s wisselt u de status.')}"

    def _summary(self) -> None:
        parts = [f"{_('Status')}: {_(STATUS_LABEL[self.status])}"]
        if self.rows:
            first = self.window_offset + 1
            last = self.window_offset + len(self.rows)
            parts.append(f"{number(first)}–{number(last)} {_('van')} {number(self.total)}")
        else:
            parts.append(f"0 {_('van')} 0")
        if self.filter_text:
            parts.append(f"{_('filter')}: '{escape(self.filter_text)}'")
        if self.fetching:
            parts.append(_("laden…"))
        elif self.rows:
            parts.append(_("Enter: details"))
        # One line of fixed height: no layout pass for the whole screen on every keystroke.
        self.query_one("#fm-summary", Static).update(" · ".join(parts), layout=False)

    def _when(self, stamp: str, *, short: bool = False) -> str:
        try:
            moment = datetime.fromisoformat(stamp).astimezone(
                ZoneInfo(self.koppelaar.workspace.settings.app.timezone)
            )
        except (ValueError, KeyError):
            return stamp[:16].replace("T", " ")
        if short:
            # The year only when it is not this year: the column stays narrow at 80 columns.
            return (
                moment.strftime("%d-%m %H:%M")
                if moment.year == datetime.now().year
                else moment.strftime("%Y-%m-%d")
            )
        return moment.strftime("%Y-%m-%d %H:%M")

    # -- the window slides with the cursor ---------------------------------------------------------

    @on(DataTable.RowHighlighted, "#fm-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        table = self.query_one(ProblemTable)
        if event.cursor_row != table.cursor_row or self.fetching or not self.rows:
            return  # a stale event from refilling the table, or a window already on its way
        self._show_detail(event.cursor_row)
        if event.cursor_row >= len(self.rows) - 1 and self.window_offset + len(self.rows) < self.total:
            last = self.rows[-1]
            self._load("forward", after=(last.last_seen, last.id), limit=STEP)
            self._summary()
        elif event.cursor_row == 0 and self.window_offset > 0:
            first = self.rows[0]
            self._load("backward", before=(first.last_seen, first.id), limit=STEP)
            self._summary()

    @on(ProblemTable.Jump)
    def _jump(self, event: ProblemTable.Jump) -> None:
        if event.to_end and self.window_offset + len(self.rows) < self.total:
            # ("", 0) is before every (last_seen, id): read from the oldest end.
            self._load("end", before=("", 0))
        elif not event.to_end and self.window_offset > 0:
            self.reload()

    def _show_detail(self, row: int) -> None:
        if not 0 <= row < len(self.rows):
            return
        p = self.rows[row]
        if p == self._detail_shown:
            return  # the same problem again (a refill and its highlight event): nothing to redraw
        self._detail_shown = p
        # Fixed height in the stylesheet: updating it needs no layout pass of the whole screen.
        self.query_one("#fm-detail", Static).update(
            f"[b]{escape(say(p.title))}[/b]\n"
            f"[$text-muted]{_('Wat te doen')}:[/] {escape(say(p.advice) or '—')}\n"
            f"[$text-muted]{escape(origin_label(p.origin))} · {_('eerst gezien')} {self._when(p.first_seen)}"
            f" · {_('laatst')} {self._when(p.last_seen)} · {number(p.count)}×"
            f" · {_(STATUS_LABEL.get(p.status, p.status))}[/]",
            layout=False,
        )

    def selected(self) -> Foutmelding | None:
        row = self.query_one(ProblemTable).cursor_row
        if self.fetching and not self.rows:
            return None
        return self.rows[row] if 0 <= row < len(self.rows) else None

    # -- filter and status -------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#fm-filter", Input)
        box.display = True
        box.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            # Otherwise escape goes on to the screen: back to the overview.
            return self.query_one("#fm-filter", Input).display
        # Only the actions that can change something in this view, so the footer fits 80 columns.
        if action == "reopen":
            return self.status != "open"
        if action == "ignore":
            return self.status != "ignored"
        if action == "resolve":
            return self.status != "resolved"
        return True

    def action_clear_filter(self) -> None:
        box = self.query_one("#fm-filter", Input)
        box.display = False
        self.query_one(ProblemTable).focus()
        if box.value:
            box.value = ""  # Input.Changed reloads
        self.refresh_bindings()

    @on(Input.Changed, "#fm-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        # Search as you type: each keystroke asks for a fresh window; an older answer is dropped.
        self.filter_text = event.value.strip()
        self.reload()
        self._summary()

    @on(Input.Submitted, "#fm-filter")
    def _filter_done(self) -> None:
        self.query_one(ProblemTable).focus()

    def action_cycle_status(self) -> None:
        self.status = STATUSES[(STATUSES.index(self.status) + 1) % len(STATUSES)]
        self.reload()
        self._summary()
        self.refresh_bindings()

    def action_refresh(self) -> None:
        self.reload(keep_position=True)

    # -- drill-down ---------------------------------------------------------------------------------

    def action_open(self) -> None:
        problem = self.selected()
        if problem is not None:
            self.app.push_screen(ProblemScreen(self, problem))

    @on(DataTable.RowSelected, "#fm-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    # -- actions ------------------------------------------------------------------------------------

    def _refused(self, what: str) -> bool:
        if self.koppelaar.read_only:
            self.app.notify(
                _("Alleen-lezen: {what} is niet toegestaan (start zonder --read-only).").format(what=what),
                severity="warning",
            )
            return True
        return False

    def _chosen(self, problem: Foutmelding | None) -> Foutmelding | None:
        problem = problem or self.selected()
        if problem is None:
            self.app.notify(_("Kies eerst een foutmelding."), severity="warning")
        return problem

    def action_retry(self, problem: Foutmelding | None = None) -> None:
        problem = self._chosen(problem)
        if problem is None or self._refused(_("opnieuw proberen")):
            return
        if self.busy_retrying:
            self.app.notify(_("Er loopt al een nieuwe poging."), severity="warning")
            return
        self.busy_retrying = True
        self.app.notify(f"{_('Opnieuw proberen')}: {escape(say(problem.title))}", title=self.koppeling)
        self._retry(problem)

    @work(thread=True, exclusive=True, group="fm-retry", exit_on_error=False)
    def _retry(self, problem: Foutmelding) -> None:
        # Its own event loop in a thread (like a run from the Status tab): the interface keeps going.
        workspace = self.koppelaar.workspace
        try:
            references = workspace.problem_references(problem.id)
            if not references:
                self.app.call_from_thread(self._retried, problem, 0, None, None)
                return
            result = asyncio.run(workspace.run(self.koppeling, retry=frozenset(references)))
            after = workspace.foutmelding(problem.id)
        finally:
            self.busy_retrying = False
        self.app.call_from_thread(self._retried, problem, len(references), result, after)

    def _retried(
        self,
        problem: Foutmelding,
        records: int,
        result: RunReport | RunRequested | None,
        after: Foutmelding | None,
    ) -> None:
        if result is None:
            self.app.notify(
                _(
                    "Deze foutmelding heeft geen records om opnieuw te proberen; start een run op het tabblad Status (n)."
                ),
                severity="warning",
            )
        elif isinstance(result, RunRequested):
            self.app.notify(_("De daemon plant de runs; de poging is aan hem doorgegeven."))
        elif after is not None and after.status == "resolved":
            self.app.notify(
                _("Opgelost: {n} record(s) geboekt.").format(n=number(records))
                + f" {escape(say(result.message))}",
                title=self.koppeling,
            )
        else:
            self.app.notify(
                f"{_('Nog niet opgelost')}: {escape(say(result.message))}",
                title=self.koppeling,
                severity="warning",
            )
        self.reload(keep_position=True)

    def action_ignore(self, problem: Foutmelding | None = None) -> None:
        problem = self._chosen(problem)
        if problem is None or self._refused(_("negeren")):
            return
        if problem.status == "ignored":
            self.app.notify(_("Deze foutmelding is al genegeerd (h heropent hem)."))
            return
        question = (
            f"{_('Foutmelding negeren?')}\n\n{escape(say(problem.title))}\n\n"
            + _("Hij verdwijnt uit de open foutmeldingen en komt niet terug als het opnieuw gebeurt;")
            + " "
            + _("de records worden niet geboekt. Met s en h vindt en heropent u hem.")
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._set_status(problem, "ignored")

        self.app.push_screen(ConfirmScreen(question), answered)

    def action_resolve(self, problem: Foutmelding | None = None) -> None:
        problem = self._chosen(problem)
        if problem is None or self._refused(_("een foutmelding wijzigen")):
            return
        self._set_status(problem, "resolved")

    def action_reopen(self, problem: Foutmelding | None = None) -> None:
        problem = self._chosen(problem)
        if problem is None or self._refused(_("een foutmelding wijzigen")):
            return
        if problem.status == "open":
            self.app.notify(_("Deze foutmelding is al open."))
            return
        self._set_status(problem, "open")

    @work(thread=True, group="fm-status", exit_on_error=False)
    def _set_status(self, problem: Foutmelding, status: str) -> None:
        try:
            self.koppelaar.workspace.set_problem_status(problem, status)
        except ReadOnlyError as exc:
            self.app.call_from_thread(self.app.notify, str(exc), severity="warning")
            return
        self.app.call_from_thread(self._status_set, problem, status)

    def _status_set(self, problem: Foutmelding, status: str) -> None:
        done = {"ignored": _("Genegeerd"), "resolved": _("Opgelost"), "open": _("Heropend")}[status]
        self.app.notify(f"{done}: {escape(say(problem.title))}", title=self.koppeling)
        self.reload(keep_position=True)


class ProblemScreen(Screen[None]):
    """One foutmelding: what to do, its records, and per record the (redacted) request and response."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", _("Terug"), id="foutmelding-back"),
        Binding("o", "act('retry')", _("Opnieuw proberen"), id="foutmelding-detail-retry"),
        Binding("i", "act('ignore')", _("Negeren"), id="foutmelding-detail-ignore"),
        Binding("m", "act('resolve')", _("Opgelost"), id="foutmelding-detail-resolve"),
        Binding("h", "act('reopen')", _("Heropenen"), id="foutmelding-detail-reopen"),
    ]
    AUTO_FOCUS = "#fm-records"

    def __init__(self, tab: FoutmeldingenTab, problem: Foutmelding) -> None:
        super().__init__()
        self.tab = tab
        self.problem = problem
        self.records: list[tuple[str, str, str]] = []
        self.sub_title = f"{tab.koppeling} · {_('Foutmelding')}"

    @property
    def koppelaar(self) -> KoppelaarApp:
        return cast("KoppelaarApp", self.app)

    def compose(self) -> ComposeResult:
        p = self.problem
        yield Header()
        with Vertical(id="fm-problem-screen"):
            yield Static(
                f"[b]{escape(say(p.title))}[/b]\n"
                f"[$text-muted]{_('Wat te doen')}:[/] {escape(say(p.advice) or '—')}\n"
                f"[$text-muted]{escape(origin_label(p.origin))} · {_('eerst gezien')} {self.tab._when(p.first_seen)}"
                f" · {_('laatst')} {self.tab._when(p.last_seen)} · {number(p.count)}×"
                f" · {_(STATUS_LABEL.get(p.status, p.status))}[/]",
                id="fm-problem",
            )
            yield Static(_("Records laden…"), id="fm-records-title")
            records: DataTable[Text] = DataTable(id="fm-records", cursor_type="row")
            yield records
            with VerticalScroll(id="fm-exchange-box"):
                yield Static("", id="fm-exchange")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#fm-records", DataTable).add_columns(_("Record"), _("Detail"))
        self._load()

    @work(thread=True, exclusive=True, group="fm-records", exit_on_error=False)
    def _load(self) -> None:
        records, total = self.koppelaar.workspace.problem_records_page(self.problem.id, limit=RECORDS)
        self.app.call_from_thread(self._show, records, total)

    def _show(self, records: list[tuple[str, str, str]], total: int) -> None:
        self.records = records
        title = self.query_one("#fm-records-title", Static)
        if not records:
            title.update(
                _("Geen records bij deze foutmelding: het probleem geldt de hele koppeling")
                + " "
                + _("(bijvoorbeeld een verbinding); een volgende run laat zien of het weg is.")
            )
            self.query_one("#fm-records").display = False
            self.query_one("#fm-exchange-box").display = False
            return
        shown = (
            f"{number(len(records))} {_('van')} {number(total)}" if total > len(records) else number(total)
        )
        title.update(f"{_('Records')}: {shown} · {_('Tab: naar verzoek/antwoord')}")
        table = self.query_one("#fm-records", DataTable)
        table.add_rows(
            (
                Text(reference),
                Text(say(detail.splitlines()[0]) if detail else "", no_wrap=True, overflow="ellipsis"),
            )
            for reference, detail, _exchange in records
        )
        self._exchange(0)

    @on(DataTable.RowHighlighted, "#fm-records")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._exchange(event.cursor_row)

    @on(DataTable.RowSelected, "#fm-records")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.query_one("#fm-exchange-box").focus()

    def _exchange(self, row: int) -> None:
        if not 0 <= row < len(self.records):
            return
        reference, detail, exchange = self.records[row]
        text = Text()
        text.append(f"{reference}\n", style="bold")
        text.append(detail or "—")
        text.append(f"\n\n{_('Verzoek en antwoord (geheimen weggelaten)')}:\n", style="bold")
        # Vendor text as plain Text: a '[' in a response is shown, never parsed as markup.
        text.append(exchange or _("Niet vastgelegd: het probleem ontstond vóór er iets verstuurd werd."))
        self.query_one("#fm-exchange", Static).update(text)
        self.query_one("#fm-exchange-box", VerticalScroll).scroll_home(animate=False)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_act(self, action: str) -> None:
        if self.koppelaar.read_only and action != "open":
            # Said here; the list stays where it was.
            getattr(self.tab, f"action_{action}")(self.problem)
            return
        self.app.pop_screen()
        getattr(self.tab, f"action_{action}")(self.problem)
