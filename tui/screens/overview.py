"""Overzicht: every koppeling at a glance, live, with who schedules the nightly runs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, cast
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from sync.workspace import KoppelingState, KoppelingStatus, SchedulerHolder
from tui.i18n import _
from tui.widgets.instellingen_tab import DAYS

if TYPE_CHECKING:
    from tui.app import KoppelaarApp

REFRESH_SECONDS = 2.0
# ANSI colour names: they survive a 16-colour terminal (TERM=linux) where theme colours would not.
STATE_STYLE = {
    KoppelingState.ACTIEF: "green",
    KoppelingState.GEPAUZEERD: "dim",
    KoppelingState.GEDEACTIVEERD: "dim",
    KoppelingState.NIET_VERBONDEN: "yellow",
    KoppelingState.WACHT_OP_AUTORISATIE: "yellow",
    KoppelingState.HERAUTORISATIE: "bold red",
    KoppelingState.FOUT: "bold red",
}


# The two longest states, shortened for the overview so all columns fit 80 columns; the Status tab
# shows the full state and its reason.
SHORT_STATE = {
    KoppelingState.WACHT_OP_AUTORISATIE: "Autoriseren",
    KoppelingState.HERAUTORISATIE: "Herautoriseren",
}


def state_label(state: KoppelingState) -> str:
    return _(SHORT_STATE.get(state, state.value))


# How the last run went, in one short word: the overview must fit 80 columns (an admin over SSH).
NAME_WIDTH = 13  # longer koppeling names end in '…' here; the koppeling screen shows them whole
RUN_WORD = {"ok": "ok", "partial": "deels", "failed": "mislukt", "busy": "bezig", "dry_run": "dry-run"}
RUN_STYLE = {"ok": "green", "partial": "yellow", "failed": "bold red", "busy": "yellow", "dry_run": "dim"}


def local_time(iso: str | None, timezone: str | None = None) -> datetime | None:
    """A stored moment in `timezone`: the store keeps UTC, the schedule is local, and an admin compares
    the two."""
    if not iso:
        return None
    moment = datetime.fromisoformat(iso)
    if timezone and moment.tzinfo is not None:
        moment = moment.astimezone(ZoneInfo(timezone))
    return moment


def day_and_time(iso: str | None, timezone: str | None = None) -> str:
    """'21-01 03:15': for lists of runs, where the date matters."""
    moment = local_time(iso, timezone)
    return f"{moment:%d-%m %H:%M}" if moment else "—"


def short_time(iso: str | None, timezone: str | None = None, now: datetime | None = None) -> str:
    """'wo 03:15' within a week of now, else '21-01-26': eight characters, so the overview fits 80
    columns."""
    moment = local_time(iso, timezone)
    if moment is None:
        return "—"
    current = now or datetime.now(moment.tzinfo)
    if abs((moment.date() - current.date()).days) < 7:
        return f"{_(DAYS[moment.weekday()])} {moment:%H:%M}"
    return f"{moment:%d-%m-%y}"


def next_run_text(row: KoppelingStatus, timezone: str | None = None) -> str:
    """'do 03:15'; 'herh. 03:45' when a failed night is retried first, 'herh. nu' when that retry is due
    (the Instellingen tab says which attempt)."""
    if row.next_run_retry:
        moment = local_time(row.next_run_at, timezone)
        if moment is None or moment <= datetime.now(moment.tzinfo):
            return f"{_('herh.')} {_('nu')}"
        return f"{_('herh.')} {moment:%H:%M}"
    return short_time(row.next_run_at, timezone)


def holder_text(holder: SchedulerHolder | None, timezone: str) -> str:
    """'daemon (pid 4711 op server, sinds 21-01 03:15)', local time."""
    if holder is None:
        return _("niemand (geen daemon of console plant de runs)")
    where = f"pid {holder.pid} {_('op')} {holder.host}"
    return f"{_(holder.role)} ({where}, {_('sinds')} {day_and_time(holder.since, timezone)})"


def last_run_text(row: KoppelingStatus, timezone: str | None = None) -> Text:
    """'21-01 03:15 deels 7/1': when, how it went, booked/failed."""
    if row.running:
        return Text(f"{_('Bezig')}: {row.last_run_booked} {_('geboekt')}", style="yellow")
    if row.last_run_at is None:
        return Text(_("nog nooit"), style="dim")
    status = row.last_run_status or ""
    text = Text(short_time(row.last_run_at, timezone) + " ")
    text.append(_(RUN_WORD.get(status, status)), style=RUN_STYLE.get(status, ""))
    text.append(f" {row.last_run_booked}/{row.last_run_failed}")
    return text


class OverviewScreen(Screen[None]):
    AUTO_FOCUS = "#koppelingen"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", _("Openen"), id="open-koppeling"),
        Binding("slash", "filter", _("Filter"), id="filter"),
        Binding("r", "refresh", _("Vernieuwen"), id="refresh"),
        Binding("escape", "clear_filter", _("Filter wissen"), show=False, id="clear-filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[KoppelingStatus] = []
        self.holder: SchedulerHolder | None = None
        self.filter_text = ""
        # What an admin looks for first comes first and fits 80 columns; source → target last.
        self.headers = [
            _("Koppeling"),
            _("Status"),
            _("Laatste run"),
            _("Volgende"),
            _("Fouten"),
            _("Niet gek."),
            _("Bron → doel"),
        ]

    @property
    def koppelaar(self) -> KoppelaarApp:
        return cast("KoppelaarApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="scheduler-line")
        yield Static("", id="shared-line")
        box = Input(placeholder=_("Filter op naam, bron, doel of status"), id="filter")
        box.display = False  # shown by `/`
        yield box
        table: DataTable[str] = DataTable(
            id="koppelingen", cursor_type="row", zebra_stripes=True, cell_padding=0
        )
        yield table
        yield Static(
            _("Er zijn nog geen koppelingen.") + " " + _("Voeg er een toe in koppelaar.toml."), id="empty"
        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#empty").display = False
        self.action_refresh()
        self.set_interval(REFRESH_SECONDS, self.action_refresh)

    @work(thread=True, exclusive=True, group="overview")
    def action_refresh(self) -> None:
        rows, holder = self.koppelaar.workspace.overview()
        self.app.call_from_thread(self._show, rows, holder)

    def _show(self, rows: list[KoppelingStatus], holder: SchedulerHolder | None) -> None:
        self.rows, self.holder = rows, holder
        timezone = self.koppelaar.workspace.settings.app.timezone
        who = _("deze console") if self.koppelaar.holds_scheduler else holder_text(holder, timezone)
        self.query_one("#scheduler-line", Static).update(f"{_('Planner')}: {who}")
        self._warn_shared(rows)
        table = self.query_one("#koppelingen", DataTable)
        selected = self.selected_name()
        visible = [r for r in rows if self._matches(r)]
        cells = [
            (
                r.name,
                [
                    Text(r.name, overflow="ellipsis", no_wrap=True),
                    Text(state_label(r.state), style=STATE_STYLE.get(r.state, "")),
                    last_run_text(r, timezone),
                    Text(next_run_text(r, timezone)),
                    Text(str(r.open_foutmeldingen), style="bold red" if r.open_foutmeldingen else "dim"),
                    Text(str(r.unmapped), style="yellow" if r.unmapped else "dim"),
                    Text(f"{r.source} → {r.target}"),
                ],
            )
            for r in visible
        ]
        # Columns as wide as their widest cell plus one space, instead of Textual's padding of one on
        # each side: that saves seven columns, which is what it takes to fit 80 columns over SSH.
        table.clear(columns=True)
        widest = [
            max([len(header), *(row[index].cell_len for _name, row in cells)])
            for index, header in enumerate(self.headers)
        ]
        room = (table.size.width or self.app.size.width) - 1
        # Long names end in '…' only where the width is short; a wide terminal shows them whole.
        if sum(w + 1 for w in widest) > room:
            widest[0] = min(widest[0], NAME_WIDTH)
        # 'Bron → doel' last: what does not fit goes over two lines (source →, then target) rather than
        # being cut (a long source name cut to 'bron → bo' at 80 columns).
        left = room - sum(w + 1 for w in widest[:-1]) - 1
        two_lines = widest[-1] > left
        if two_lines:
            for _name, row in cells:
                source, target = row[-1].plain.split(" → ", 1)
                row[-1] = Text(f"{source} →\n{target}", overflow="ellipsis")
            widest[-1] = max(
                len(self.headers[-1]), *(len(line) for _n, r in cells for line in r[-1].plain.splitlines())
            )
        for header, width in zip(self.headers, widest, strict=True):
            table.add_column(header, width=width + 1)
        for name, row in cells:
            table.add_row(*row, key=name, height=2 if two_lines else 1)
        if selected is not None and selected in {r.name for r in visible}:
            table.move_cursor(row=table.get_row_index(selected))
        self.query_one("#empty").display = not rows

    def on_resize(self) -> None:
        # Column widths follow the terminal's width.
        self._show(self.rows, self.holder)

    def _warn_shared(self, rows: list[KoppelingStatus]) -> None:
        """Two koppelingen of one source into one administratie: one books, the other finds every
        invoice 'al aanwezig'. Almost always a koppeling set up twice, so say it where it is seen."""
        groups = sorted({tuple(sorted((r.name, *r.shared_with))) for r in rows if r.shared_with})
        line = self.query_one("#shared-line", Static)
        line.display = bool(groups)
        line.update(
            Text.assemble(
                ("! ", "bold yellow"),
                "; ".join(" + ".join(group) for group in groups),
                ": ",
                _(
                    "dezelfde bron in dezelfde administratie; de ene boekt, de andere vindt alles al aanwezig."
                ),
                " ",
                _("Deactiveer er één."),
            )
        )

    def _matches(self, row: KoppelingStatus) -> bool:
        needle = self.filter_text.lower()
        haystack = (
            f"{row.name} {row.source} {row.target} {_(row.state.value)} {state_label(row.state)}".lower()
        )
        return not needle or needle in haystack

    def selected_name(self) -> str | None:
        table = self.query_one("#koppelingen", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None

    def action_open(self) -> None:
        from tui.screens.koppeling import KoppelingScreen

        name = self.selected_name()
        if name is not None:
            self.app.push_screen(KoppelingScreen(name))

    @on(DataTable.RowSelected, "#koppelingen")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.query_one("#koppelingen").focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._show(self.rows, self.holder)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#koppelingen").focus()
