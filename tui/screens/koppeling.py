"""One koppeling: tabs Status · Foutmeldingen · Mapping · Runs · Instellingen."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane, Tabs

from tui.i18n import _
from tui.widgets.foutmeldingen_tab import FoutmeldingenTab, number
from tui.widgets.instellingen_tab import InstellingenTab
from tui.widgets.mapping_tab import MappingTab
from tui.widgets.runs_tab import RunsTab
from tui.widgets.status_tab import StatusTab

TABS = ("status", "foutmeldingen", "mapping", "runs", "instellingen")
# What takes the keys on each tab (the Instellingen tab starts on the tab bar: Tab walks its fields).
KEY_TAKERS = {
    "status": "StatusTab",
    "foutmeldingen": "ProblemTable",
    "mapping": "#mapping-table",
    "runs": "#runs",
}


class KoppelingScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", _("Terug"), id="back"),
        # q still quits here; its place in the footer goes to the tab's own keys (? lists it).
        Binding("q", "app.quit", _("Afsluiten"), show=False, id="quit"),
        Binding("1", "tab('status')", _("Status"), show=False, id="tab-status"),
        Binding("2", "tab('foutmeldingen')", _("Foutmeldingen"), show=False, id="tab-foutmeldingen"),
        Binding("3", "tab('mapping')", _("Mapping"), show=False, id="tab-mapping"),
        Binding("4", "tab('runs')", _("Runs"), show=False, id="tab-runs"),
        Binding("5", "tab('instellingen')", _("Instellingen"), show=False, id="tab-instellingen"),
    ]

    def __init__(self, name: str, tab: str = "status", *, run: bool = False, dry_run: bool = False) -> None:
        super().__init__()
        self.koppeling = name
        self.initial_tab = tab if tab in TABS else "status"
        self.start_run = run
        self.start_dry_run = dry_run
        self.sub_title = name

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial=self.initial_tab):
            with TabPane(_("Status"), id="status"):
                yield StatusTab(self.koppeling)
            with TabPane(_("Foutmeldingen"), id="foutmeldingen"):
                yield FoutmeldingenTab(self.koppeling)
            with TabPane(_("Mapping"), id="mapping"):
                yield MappingTab(self.koppeling)
            with TabPane(_("Runs"), id="runs"):
                yield RunsTab(self.koppeling)
            with TabPane(_("Instellingen"), id="instellingen"):
                yield InstellingenTab(self.koppeling)
        # Compact and without ^p (named in ? help): every key of a tab fits 80 columns.
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        if self.start_run or self.start_dry_run:
            self.query_one(StatusTab).start_run(dry_run=self.start_dry_run)

    def on_foutmeldingen_tab_counted(self, event: FoutmeldingenTab.Counted) -> None:
        # The tab label says how many problems are open, whichever tab is showing.
        label = _("Foutmeldingen") + (f" ({number(event.open_count)})" if event.open_count else "")
        self.query_one(TabbedContent).get_tab("foutmeldingen").label = label

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_tab(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = tab
        if tab in KEY_TAKERS:
            # Focus now rather than on the tab's Show: a key typed right after the digit ('1' 'd') is
            # already queued and would otherwise reach the tab that was showing.
            self.set_focus(tabs.get_pane(tab).query_one(KEY_TAKERS[tab]))
        else:
            # The tab bar: left in the pane now hidden, the focus moves on to a widget there, and the
            # tabs follow it back (5 pressed on the Runs tab showed Runs again).
            self.set_focus(tabs.query_one(Tabs))
