"""Mapping tab: which tegenrekening, btw-code, kostenplaats and dagboek each source value gets.

Left the source values (verkoop/inkoop × btw-tarief, productgroepen, the defaults, the soort's dagboek),
right what the mapping makes of them: an explicit value, the default that applies ("standaard: 8000",
"standaard: 70 (verbinding)"), "geen kostenplaats", or "niet gekoppeld". Enter opens a picker over the
target's live grootboekrekeningen, btw-codes, kostenplaatsen or dagboeken; the choice is written by
Workspace.save_mapping (koppelaar.toml with its comments, audited). Values that parked records wait for
(open mapping foutmeldingen) are highlighted at the top.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, LoadingIndicator, OptionList, Static
from textual.widgets.option_list import Option

from sync.workspace import ConfigError, Directory, InvoiceKind, Journal, LedgerAccount, Mapping, VatCode
from tui.i18n import _
from tui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from tui.app import KoppelaarApp

WORDS = ("verkoop", "inkoop")
KIND = {"verkoop": InvoiceKind.SALES, "inkoop": InvoiceKind.PURCHASE}
BASE_RATES = ("21", "9", "0")
# Reverse charge: sales are invoiced at 0% (the customer pays), purchases carry the rate the buyer
# reports himself, so the obvious verlegd rows differ per side.
BASE_VERLEGD = {"verkoop": ("0",), "inkoop": ("21",)}
_RATE_KEY = re.compile(r"^(verkoop|inkoop):(\d+(?:\.\d+)?)(:verlegd)?$")
_CATEGORY_KEY = re.compile(r"^(verkoop|inkoop):(\d+(?:\.\d+)?):([A-Z]{1,2})(?::([A-Z]{2}))?$")
CLEAR = "__standaard__"  # the picker's "back to the default" option


@dataclass(frozen=True)
class Row:
    """One source value. `keys` is its path under [koppelingen.<naam>.mapping]."""

    key: str
    section: str  # tegenrekening | btw | kostenplaats | dagboek
    label: str
    keys: tuple[str, ...]
    word: str = ""
    rate: Decimal | None = None
    verlegd: bool = False
    group: str = ""
    unmapped_key: str = ""  # the mapping key a parked record names (workspace.unmapped_values)


SECTION_LABEL = {
    "tegenrekening": "Tegenrekening",
    "btw": "Btw-code",
    "kostenplaats": "Kostenplaats",
    "dagboek": "Dagboek",
}
SECTION_LIST = {"tegenrekening": "grootboekrekeningen", "btw": "btw-codes", "kostenplaats": "kostenplaatsen"}
BOOK = {"verkoop": "verkoopboek", "inkoop": "inkoopboek"}
FACTUREN = {"verkoop": "verkoopfacturen", "inkoop": "inkoopfacturen"}


def _rate_label(rate: str) -> str:
    return f"{rate}%"


def _sort_rates(rates: set[str]) -> list[str]:
    def value(rate: str) -> Decimal:
        try:
            return Decimal(rate)
        except InvalidOperation:
            return Decimal(0)

    return sorted(rates, key=value, reverse=True)


def build_rows(mapping: Mapping, unmapped: set[str]) -> list[Row]:
    """Every source value worth showing: the usual rates, plus any rate or group the mapping or a parked
    record mentions (a source may send no productgroepen; then the groups come from koppelaar.toml)."""
    rates: dict[str, set[str]] = {word: set(BASE_RATES) for word in WORDS}
    verlegd: dict[str, set[str]] = {word: set(BASE_VERLEGD[word]) for word in WORDS}
    groups: dict[str, set[str]] = {word: set() for word in WORDS}
    for key in [*mapping.tegenrekening, *mapping.btw_codes, *unmapped]:
        if match := _RATE_KEY.match(key):
            (verlegd if match[3] else rates)[match[1]].add(match[2])
        elif ":groep:" in key:
            word, _groep, group = key.split(":", 2)
            if word in groups:
                groups[word].add(group)
    for key in mapping.kostenplaatsen:
        if key.startswith("groep:"):
            for word in WORDS:
                groups[word].add(key.removeprefix("groep:"))

    rows: list[Row] = []
    for word in WORDS:
        rows.append(
            Row(
                f"tegenrekening:{word}:standaard",
                "tegenrekening",
                f"{_(word)} — {_('standaard')}",
                (f"tegenrekening_{word}",),
                word=word,
                unmapped_key=f"tegenrekening_{word}",
            )
        )
    for word in WORDS:
        for rate in _sort_rates(rates[word]):
            key = f"{word}:{rate}"
            rows.append(
                Row(
                    f"tegenrekening:{key}",
                    "tegenrekening",
                    f"{_(word)} {_rate_label(rate)}",
                    ("tegenrekening", key),
                    word=word,
                    rate=Decimal(rate),
                )
            )
        for group in sorted(groups[word]):
            key = f"{word}:groep:{group}"
            rows.append(
                Row(
                    f"tegenrekening:{key}",
                    "tegenrekening",
                    f"{_(word)} {_('groep')} {group}",
                    ("tegenrekening", key),
                    word=word,
                    group=group,
                )
            )
    for word in WORDS:
        combos = [(rate, False) for rate in rates[word]] + [(rate, True) for rate in verlegd[word]]
        combos.sort(key=lambda combo: (combo[1], -Decimal(combo[0])))
        for rate, reverse in combos:
            key = f"{word}:{rate}" + (":verlegd" if reverse else "")
            label = f"{_(word)} {_rate_label(rate)}" + (f" {_('verlegd')}" if reverse else "")
            rows.append(
                Row(
                    f"btw:{key}",
                    "btw",
                    label,
                    ("btw_codes", key),
                    word=word,
                    rate=Decimal(rate),
                    verlegd=reverse,
                    unmapped_key=key,
                )
            )
    # Purchase keys an e-invoice inbox adds (sync/mapping.py): a supplier's own tegenrekening, a btw-code per
    # rate, category and supplier country. Shown when koppelaar.toml or a parked record names them.
    for key in sorted(k for k in mapping.tegenrekening if ":leverancier:" in k):
        word, _kind, supplier = key.split(":", 2)
        label = f"{_(word)} {_('leverancier')} {supplier}"
        rows.append(Row(f"tegenrekening:{key}", "tegenrekening", label, ("tegenrekening", key), word=word))
    for key in sorted(k for k in {*mapping.btw_codes, *unmapped} if _CATEGORY_KEY.match(k)):
        match = _CATEGORY_KEY.match(key)
        assert match is not None
        label = f"{_(match[1])} {_rate_label(match[2])} {match[3]} {match[4] or ''}".rstrip()
        rows.append(
            Row(
                f"btw:{key}",
                "btw",
                label,
                ("btw_codes", key),
                word=match[1],
                rate=Decimal(match[2]),
                unmapped_key=key,
            )
        )
    # Kostenplaatsen: one per soort for all its lines (all a source without productgroepen can use), and per
    # productgroep, which wins over the soort's; the group key is shared by verkoop and inkoop.
    for word in WORDS:
        rows.append(
            Row(
                f"kostenplaats:{word}",
                "kostenplaats",
                f"{_(word)} — {_('standaard')}",
                ("kostenplaatsen", word),
                word=word,
            )
        )
    for group in sorted(groups["verkoop"] | groups["inkoop"]):
        rows.append(
            Row(
                f"kostenplaats:groep:{group}",
                "kostenplaats",
                f"{_('groep')} {group}",
                ("kostenplaatsen", f"groep:{group}"),
                group=group,
            )
        )
    for word in WORDS:
        rows.append(Row(f"dagboek:{word}", "dagboek", _(BOOK[word]), ("dagboeken", word), word=word))
    return rows


class MappingTab(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "edit", _("Kiezen"), id="mapping-edit"),
        Binding("x,delete", "clear", _("Standaard gebruiken"), id="mapping-clear"),
        Binding("slash", "filter", _("Filter"), id="mapping-filter"),
        Binding("r", "refresh", _("Vernieuwen"), show=False, id="mapping-refresh"),
        # Only while a filter is set (check_action); otherwise Escape goes back as everywhere.
        Binding("escape", "clear_filter", _("Filter wissen"), show=False, id="mapping-clear-filter"),
    ]

    def __init__(self, koppeling: str) -> None:
        super().__init__(id="mapping-tab")
        self.koppeling = koppeling
        self.rows: list[Row] = []
        self.unmapped: list[str] = []
        self.directory: Directory | None = None
        self.directory_error = ""
        self.directory_loading = False
        self.vat_defaults: dict[str, str | None] = {}
        self.filter_text = ""
        self.saving = False
        self._shown_once = False

    @property
    def koppelaar(self) -> KoppelaarApp:
        return cast("KoppelaarApp", self.app)

    @property
    def mapping(self) -> Mapping:
        return self.koppelaar.workspace.settings.koppelingen[self.koppeling].mapping

    @property
    def target_name(self) -> str:
        return self.koppelaar.workspace.settings.koppelingen[self.koppeling].target

    @property
    def vendor(self) -> str:
        return self.koppelaar.workspace.target_vendor(self.koppeling)

    def compose(self) -> ComposeResult:
        yield Static("", id="mapping-unmapped")
        yield MappingFilter(
            placeholder=_("Filter: typ om bronwaarden te zoeken (Esc wist)"), id="mapping-filter"
        )
        table: DataTable[Text] = DataTable(id="mapping-table", cursor_type="row", zebra_stripes=True)
        yield table
        with Horizontal(id="mapping-status-line"):
            yield LoadingIndicator(id="mapping-loading")
            yield Static("", id="mapping-status")

    def on_mount(self) -> None:
        self.query_one("#mapping-table", DataTable).add_columns(" ", _("Soort"), _("Bronwaarde"), _("Doel"))
        self.query_one("#mapping-filter", Input).display = False
        self.query_one("#mapping-loading").display = False
        self.query_one("#mapping-unmapped").display = False
        self._fill()

    def on_show(self) -> None:
        # Parked records change when someone retries under Foutmeldingen: re-read on every visit; the
        # live directory is fetched once (r fetches it again).
        self.load_local()
        focused = self.app.focused
        if focused is None or self not in focused.ancestors_with_self:
            self.query_one("#mapping-table", DataTable).focus()

    # -- loading ------------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="mapping-local", exit_on_error=False)
    def load_local(self) -> None:
        unmapped = self.koppelaar.workspace.unmapped_values(self.koppeling)
        self.app.call_from_thread(self._show_unmapped, unmapped)

    def _show_unmapped(self, unmapped: list[str]) -> None:
        first_time = not self._shown_once
        self.unmapped = unmapped
        self._fill(jump=first_time)
        if first_time:
            # After the rows are known: the target's default btw-codes are computed for them.
            self._shown_once = True
            self.load_directory()

    def load_directory(self) -> None:
        if self.directory_loading:
            return
        self.directory_loading = True
        self.query_one("#mapping-loading").display = True
        self._status(
            _("Grootboekrekeningen, btw-codes, kostenplaatsen en dagboeken van {vendor} ophalen…").format(
                vendor=escape(self.vendor)
            )
        )
        self._check_connected()

    @work(thread=True, exclusive=True, group="mapping-connected", exit_on_error=False)
    def _check_connected(self) -> None:
        # The secret store may be a keyring: ask it off the event loop.
        try:
            connected = self.koppelaar.workspace.is_connected(self.target_name)
        except Exception as exc:  # a locked keyring: say so instead of hanging in "ophalen…"
            self.app.call_from_thread(self._directory_failed, str(exc) or type(exc).__name__)
            return
        if connected:
            self.app.call_from_thread(self._fetch_directory)
        else:
            self.app.call_from_thread(
                self._directory_failed,
                _("niet verbonden; verbind '{name}' eerst (Status-tab, v)").format(name=self.target_name),
            )

    @work(exclusive=True, group="mapping-directory", exit_on_error=False)
    async def _fetch_directory(self) -> None:
        workspace = self.koppelaar.workspace
        try:
            # The defaults need no network: known even when the vendor is unreachable.
            self.vat_defaults = await workspace.default_vat_codes(
                self.koppeling,
                {
                    row.key: (KIND[row.word], row.rate, row.verlegd)
                    for row in self.rows
                    if row.section == "btw" and row.rate is not None
                },
            )
            directory = await workspace.directory(self.koppeling)
        except Exception as exc:  # unreachable, refused, not authorised: the admin must see why
            self._directory_failed(str(exc) or type(exc).__name__)
            return
        self.directory = directory
        self.directory_error = ""
        self.directory_loading = False
        self.query_one("#mapping-loading").display = False
        counts = {
            "n": len(self._tegenrekeningen()),
            "m": len(directory.vat_codes),
            "k": len(directory.cost_centers),
            "j": len(directory.journals),
            "vendor": escape(self.vendor),
        }
        found = (
            _("{n} grootboekrekeningen, {m} btw-codes, {k} kostenplaatsen, {j} dagboeken van {vendor}.")
            if directory.journals
            else _("{n} grootboekrekeningen, {m} btw-codes, {k} kostenplaatsen van {vendor}.")
        )
        self._status(found.format(**counts) + " " + _("Enter kiest."))
        self._fill()

    def _directory_failed(self, reason: str) -> None:
        self.directory = None
        self.directory_error = reason
        self.directory_loading = False
        self.query_one("#mapping-loading").display = False
        self._status(
            "[$error]"
            + _("Kan de grootboekrekeningen van {vendor} niet ophalen").format(vendor=escape(self.vendor))
            + ":[/] "
            + escape(reason)
            + ". "
            + _("De mapping is te bekijken; kiezen kan pas als de verbinding werkt (r probeert opnieuw).")
        )
        self._fill()

    # -- showing ------------------------------------------------------------------------------------

    def _tegenrekeningen(self) -> list[LedgerAccount]:
        if self.directory is None:
            return []
        return [a for a in self.directory.ledger_accounts if a.tegenrekening]

    def _journals(self, row: Row) -> list[Journal]:
        """The target's dagboeken that take this row's soort of invoice."""
        if self.directory is None:
            return []
        return [j for j in self.directory.journals if j.kind is KIND[row.word]]

    @property
    def has_journals(self) -> bool:
        """Whether the target books in dagboeken at all (a target may book per soort mutatie instead).
        Before the live list is in, the connection says so: it names a default dagboek or none."""
        if self.directory is not None:
            return bool(self.directory.journals)
        return bool(self.koppelaar.workspace.default_journal(self.koppeling, InvoiceKind.SALES))

    def editable(self, row: Row) -> bool:
        return row.section != "dagboek" or self.has_journals

    def _names(self, row: Row) -> dict[str, str]:
        """Code → name of what the live list offers for this row."""
        assert self.directory is not None
        if row.section == "btw":
            return {v.code: v.description for v in self.directory.vat_codes}
        if row.section == "kostenplaats":
            return {c.code: c.name for c in self.directory.cost_centers}
        if row.section == "dagboek":
            return {j.code: j.name for j in self._journals(row)}
        return {a.code: a.name for a in self.directory.ledger_accounts}

    def _value_text(self, row: Row, code: str) -> Text:
        """The code with its name from the live list; yellow when the target does not know it."""
        if self.directory is None:
            return Text(code)
        names = self._names(row)
        if code in names:
            return Text(f"{code} {names[code]}")
        missing = _("bestaat niet in {vendor}").format(vendor=self.vendor)
        return Text(f"{code} ({missing})", style="yellow")

    def current(self, row: Row) -> str:
        """The explicit value in koppelaar.toml for this row ('' when none)."""
        mapping = self.mapping
        if row.keys[0] == "tegenrekening_verkoop":
            return mapping.tegenrekening_verkoop
        if row.keys[0] == "tegenrekening_inkoop":
            return mapping.tegenrekening_inkoop
        table: dict[str, str] = getattr(mapping, row.keys[0])
        return table.get(row.keys[1], "")

    def unset_text(self, row: Row) -> str:
        """What a row without value and without default means: a kostenplaats is optional."""
        return _("geen kostenplaats") if row.section == "kostenplaats" else _("niet gekoppeld")

    def fallback(self, row: Row) -> tuple[str, str]:
        """What applies when the row has no explicit value: (short text, value); value '' = nothing."""
        mapping = self.mapping
        if row.section == "tegenrekening":
            default = mapping.tegenrekening_verkoop if row.word == "verkoop" else mapping.tegenrekening_inkoop
            if row.group:
                return _("standaard: volgens btw-tarief"), "tarief"
            if row.rate is not None and default:
                return _("standaard") + f": {default}", default
            return "", ""
        if row.section == "btw":
            if row.key not in self.vat_defaults:
                # Not known yet (still loading, or no connection to ask): do not claim "niet gekoppeld".
                unknown = _("wordt opgehaald…") if self.directory_loading else _("onbekend")
                return _("standaard") + f": {unknown}", "?"
            code = self.vat_defaults[row.key]
            return (_("standaard") + f": {code}", code) if code else ("", "")
        if row.section == "kostenplaats":
            if not row.group:
                return "", ""
            verkoop = mapping.kostenplaatsen.get("verkoop", "")
            inkoop = mapping.kostenplaatsen.get("inkoop", "")
            if verkoop == inkoop and verkoop:
                return _("standaard") + f": {verkoop}", verkoop
            if verkoop or inkoop:
                return _("standaard: volgens soort"), "soort"
            return "", ""
        if row.section == "dagboek":
            code = self.koppelaar.workspace.default_journal(self.koppeling, KIND[row.word])
            return (_("standaard: {code} (verbinding)").format(code=code), code) if code else ("", "")
        return "", ""

    def waiting(self, row: Row) -> bool:
        """A parked record waits for this row's mapping key."""
        return bool(row.unmapped_key) and row.unmapped_key in self.unmapped

    def target_cell(self, row: Row) -> Text:
        if not self.editable(row):
            return Text(_("geen dagboeken in {vendor}").format(vendor=self.vendor), style="dim")
        value = self.current(row)
        if value:
            return self._value_text(row, value)
        text, fallback = self.fallback(row)
        if fallback:
            return Text(text, style="dim")
        if row.section == "kostenplaats":
            return Text(self.unset_text(row), style="dim")  # booking without one is fine
        return Text(_("niet gekoppeld"), style="bold red")

    def _fill(self, jump: bool = False) -> None:
        """(Re)build the list from the mapping; `jump` puts the cursor on the first waiting value."""
        table = self.query_one("#mapping-table", DataTable)
        self.rows = build_rows(self.mapping, set(self.unmapped))
        selected = self.selected_row()
        table.clear()
        needle = self.filter_text.strip().lower()
        for row in self.rows:
            section = _(SECTION_LABEL[row.section])
            target = self.target_cell(row)
            if needle and not any(needle in t.lower() for t in (section, row.label, target.plain)):
                continue
            waiting = self.waiting(row)
            table.add_row(
                Text("!", style="bold red") if waiting else Text(""),
                Text(section, style="" if self.editable(row) else "dim"),
                Text(row.label, style="bold red" if waiting and not self.current(row) else ""),
                target,
                key=row.key,
            )
        if table.row_count == 0 and needle:
            nothing = (
                _("Geen bronwaarde gevonden voor") + f" '{self.filter_text}' " + _("(Esc wist het filter)")
            )
            table.add_row(Text(""), Text(""), Text(nothing, style="dim"), Text(""), key="-none-")
        shown = {k.value for k in table.rows}
        first = next((r.key for r in self.rows if self.waiting(r) and r.key in shown), None)
        if (jump or selected is None) and first is not None:
            table.move_cursor(row=table.get_row_index(first))
        elif selected is not None and selected.key in shown:
            table.move_cursor(row=table.get_row_index(selected.key))
        self._show_banner()

    def _show_banner(self) -> None:
        banner = self.query_one("#mapping-unmapped", Static)
        relevant = [k for k in self.unmapped if any(r.unmapped_key == k for r in self.rows)]
        if not relevant:
            banner.display = False
            return
        open_keys = [k for k in relevant if not self._fixed(k)]
        fixed = [k for k in relevant if self._fixed(k)]
        parts = []
        if open_keys:
            parts.append(
                "[$error]"
                + _("Niet gekoppeld")
                + ":[/] "
                + ", ".join(escape(k) for k in open_keys)
                + " — "
                + _("geparkeerde facturen wachten hierop (!).")
            )
        if fixed:
            parts.append(
                "[$success]" + _("Nu gekoppeld") + ":[/] " + ", ".join(escape(k) for k in fixed) + "."
            )
        # Fixing the mapping does not book anything by itself: the parked records wait for a retry.
        parts.append(
            _("Daarna boekt 'Opnieuw proberen' (o) onder Foutmeldingen ze alsnog.")
            if open_keys
            else _("Kies nu 'Opnieuw proberen' (o) onder Foutmeldingen om de geparkeerde facturen te boeken.")
        )
        banner.update(" ".join(parts))
        banner.display = True

    def _fixed(self, key: str) -> bool:
        row = next((r for r in self.rows if r.unmapped_key == key), None)
        return row is not None and bool(self.current(row))

    def _status(self, markup: str) -> None:
        self.query_one("#mapping-status", Static).update(markup)

    def selected_row(self) -> Row | None:
        table = self.query_one("#mapping-table", DataTable)
        if not table.row_count or not 0 <= table.cursor_row < table.row_count:
            return None
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        return next((r for r in self.rows if r.key == key), None)

    # -- filtering ----------------------------------------------------------------------------------

    def action_filter(self) -> None:
        field = self.query_one("#mapping-filter", Input)
        field.display = True
        field.focus()

    @on(Input.Changed, "#mapping-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._fill()

    @on(Input.Submitted, "#mapping-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self.query_one("#mapping-table", DataTable).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return bool(self.filter_text)
        if action == "clear" and self.koppelaar.read_only:
            return None  # shown dimmed: support staff see that clearing exists but is not theirs to do
        return True

    def action_clear_filter(self) -> None:
        self.clear_filter()

    def clear_filter(self) -> None:
        field = self.query_one("#mapping-filter", Input)
        field.value = ""
        field.display = False
        self.filter_text = ""
        self._fill()
        self.query_one("#mapping-table", DataTable).focus()

    def action_refresh(self) -> None:
        self.directory = None
        self.vat_defaults = {}
        self._shown_once = False
        self.load_local()

    # -- editing ------------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#mapping-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_edit()

    def action_edit(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        if not self.editable(row):
            self._no_journals()
            return
        if self.directory is None:
            message = (
                _("De lijst van {vendor} wordt nog opgehaald…").format(vendor=self.vendor)
                if self.directory_loading
                else _("Geen lijst van {vendor}: {reason}").format(
                    vendor=self.vendor, reason=self.directory_error
                )
            )
            self.app.notify(message, severity="warning")
            return
        current = self.current(row)
        fallback_text, fallback = self.fallback(row)
        if row.section == "btw":
            choices = self._vat_choices(row, current)
            title = f"{_('Btw-code voor')} {row.label}"
        elif row.section == "kostenplaats":
            cost_centers = self.directory.cost_centers
            choices = [Option(_code_prompt(c.code, c.name, current), id=c.code) for c in cost_centers]
            title = f"{_('Kostenplaats voor')} {row.label}"
        elif row.section == "dagboek":
            journals = self._journals(row)
            choices = [Option(_code_prompt(j.code, j.name, current), id=j.code) for j in journals]
            title = _("Dagboek voor {facturen}").format(facturen=_(FACTUREN[row.word]))
        else:
            choices = [Option(_ledger_prompt(a, current), id=a.code) for a in self._tegenrekeningen()]
            title = f"{_('Tegenrekening voor')} {row.label}"
        if not choices and not current:
            what = _(BOOK[row.word]) if row.section == "dagboek" else _(SECTION_LIST[row.section])
            self.app.notify(
                _("Deze administratie in {vendor} heeft geen {what}.").format(vendor=self.vendor, what=what),
                severity="warning",
            )
            return
        unset = self.unset_text(row)
        clear = None
        if current:
            clear = _("Koppeling wissen") + " — " + (fallback_text if fallback else unset)
        hint = _("Huidig") + ": " + (current or fallback_text or unset)
        if self.koppelaar.read_only:
            hint += " — " + _("alleen-lezen: kijken, niet wijzigen")

        def chosen(code: str | None) -> None:
            if code is None:
                return
            value = "" if code == CLEAR else code
            if value == current:
                self._status(_("Niets veranderd."))
                return
            self._save(row, value)

        self.app.push_screen(MappingPicker(title, hint, choices, current, clear), chosen)

    def _vat_choices(self, row: Row, current: str) -> list[Option]:
        assert self.directory is not None
        kind = KIND[row.word]
        codes = [c for c in self.directory.vat_codes if c.kind in (None, kind)]
        # Codes at this row's rate first: those are the ones that fit.
        codes.sort(key=lambda c: (c.rate != row.rate, c.rate is not None and c.rate != row.rate))
        return [Option(_vat_prompt(c, current, row.rate), id=c.code) for c in codes]

    def _validate(self, row: Row, value: str) -> str:
        """Why `value` cannot be saved for `row` ('' when it can): mistakes the vendor would refuse later."""
        if not value or self.directory is None:
            return ""
        if row.section == "btw":
            vat = next((c for c in self.directory.vat_codes if c.code == value), None)
            if vat is None:
                return _("btw-code {code} bestaat niet in {vendor}").format(code=value, vendor=self.vendor)
            if vat.rate is not None and row.rate is not None and vat.rate != row.rate:
                return _(
                    "btw-code {code} is {rate}%, maar deze bronwaarde is {own}%: {vendor} zou de boeking "
                    "weigeren"
                ).format(
                    code=value,
                    rate=format(vat.rate.normalize(), "f"),
                    own=format(row.rate.normalize(), "f"),
                    vendor=self.vendor,
                )
            return ""
        if row.section == "kostenplaats":
            if value not in self._names(row):
                return _("kostenplaats {code} bestaat niet in {vendor}").format(
                    code=value, vendor=self.vendor
                )
            return ""
        if row.section == "dagboek":
            if value not in self._names(row):
                return _("{code} is geen {book} in {vendor}").format(
                    code=value, book=_(BOOK[row.word]), vendor=self.vendor
                )
            return ""
        account = next((a for a in self.directory.ledger_accounts if a.code == value), None)
        if account is None:
            return _("grootboekrekening {code} bestaat niet in {vendor}").format(
                code=value, vendor=self.vendor
            )
        if not account.tegenrekening:
            return _("{code} is een balansrekening ({category}) en kan geen omzet of kosten dragen").format(
                code=value, category=account.category
            )
        return ""

    def _no_journals(self) -> None:
        self.app.notify(
            _("{vendor} kent geen dagboeken: boekt per soort mutatie (verkoop- of inkoopfactuur).").format(
                vendor=self.vendor
            ),
            severity="warning",
        )

    def subject(self, row: Row) -> str:
        """The row in a sentence. A kostenplaats code (often a number) does not say what it is,
        so its rows name their section; the other codes and labels speak for themselves."""
        return f"{_('kostenplaats')} {row.label}" if row.section == "kostenplaats" else row.label

    def action_clear(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        if not self.editable(row):
            self._no_journals()
            return
        current = self.current(row)
        if not current:
            self._status(
                _("{label} heeft geen eigen waarde; er is niets te wissen.").format(
                    label=escape(self.subject(row))
                )
            )
            return
        fallback_text, fallback = self.fallback(row)
        after = fallback_text if fallback else self.unset_text(row)
        question = _("{label}: {value} wissen? Daarna geldt: {after}.").format(
            label=self.subject(row), value=current, after=after
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._save(row, "")

        self.app.push_screen(ConfirmScreen(question), answered)

    def _save(self, row: Row, value: str) -> None:
        problem = self._validate(row, value)
        if problem:
            self._status("[$error]" + _("Niet opgeslagen") + ":[/] " + escape(problem) + ".")
            self.app.notify(problem, title=_("Niet opgeslagen"), severity="error")
            return
        if self.saving:
            self.app.notify(_("Bezig met opslaan…"), severity="warning")
            return
        self.saving = True
        self._status(_("Opslaan…"))
        self._write(row, row.keys, value, self.current(row))

    @work(thread=True, exclusive=True, group="mapping-save", exit_on_error=False)
    def _write(self, row: Row, keys: tuple[str, ...], value: str, old: str) -> None:
        try:
            self.koppelaar.workspace.save_mapping(self.koppeling, keys, value)
        except (ConfigError, PermissionError, OSError) as exc:
            self.app.call_from_thread(self._save_failed, str(exc))
            return
        finally:
            self.saving = False
        self.app.call_from_thread(self._saved, row, value, old)

    def _save_failed(self, reason: str) -> None:
        self._status("[$error]" + _("Niet opgeslagen") + ":[/] " + escape(reason))
        self.app.notify(reason, title=_("Niet opgeslagen"), severity="error", timeout=10)

    def _saved(self, row: Row, value: str, old: str) -> None:
        self._fill()
        # Without a value of its own the row followed its default (or nothing): say which.
        fallback_text, fallback = self.fallback(row)
        otherwise = fallback_text if fallback else self.unset_text(row)
        if value:
            message = _("Opgeslagen in koppelaar.toml: {label} → {value} (was {old}).").format(
                label=self.subject(row),
                value=self._value_text(row, value).plain,
                old=self._value_text(row, old).plain if old else otherwise,
            )
        else:
            message = _("Gewist (was {old}); {label} gebruikt nu: {after}.").format(
                old=self._value_text(row, old).plain, label=self.subject(row), after=otherwise
            )
        if self.waiting(row):
            message += " " + _(
                "Kies nu 'Opnieuw proberen' (o) onder Foutmeldingen om de geparkeerde facturen te boeken."
            )
        self._status("[$success]" + escape(message) + "[/]")
        self.app.notify(message, title=self.koppeling)


class MappingFilter(Input):
    """The `/` filter above the list: Escape clears it (and leaves Escape on the list for going back)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_filter", _("Filter wissen"), id="mapping-filter-clear"),
        Binding("down", "to_list", show=False, id="mapping-filter-to-list"),
    ]

    def action_clear_filter(self) -> None:
        tab = next(a for a in self.ancestors if isinstance(a, MappingTab))
        tab.clear_filter()

    def action_to_list(self) -> None:
        self.screen.query_one("#mapping-table", DataTable).focus()


class MappingPicker(ModalScreen[str | None]):
    """Choose one value from the target's live list: type to search, arrows to move, Enter to choose."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", _("Annuleren"), id="mapping-picker-cancel"),
        Binding("slash", "search", _("Zoeken"), show=False, id="mapping-picker-search"),
        Binding("down", "move(1)", show=False, id="mapping-picker-down"),
        Binding("up", "move(-1)", show=False, id="mapping-picker-up"),
    ]

    def __init__(self, title: str, hint: str, choices: list[Option], current: str, clear: str | None) -> None:
        super().__init__()
        self.title_text = title
        self.hint = hint
        self.choices = choices
        self.current = current
        self.clear = clear

    def compose(self) -> ComposeResult:
        with Vertical(id="mapping-picker"):
            yield Static(f"[b]{escape(self.title_text)}[/b]", id="mapping-picker-title")
            yield Static(escape(self.hint), id="mapping-picker-hint")
            yield Input(placeholder=_("Zoek op code of naam…"), id="mapping-picker-search")
            yield OptionList(id="mapping-picker-list")
            yield Static(
                _("Typ om te zoeken · ↑↓ kiezen · Enter bevestigt · Esc annuleert"), id="mapping-picker-keys"
            )

    def on_mount(self) -> None:
        self._fill("")
        self.query_one("#mapping-picker-search", Input).focus()

    def _fill(self, text: str) -> None:
        needle = text.strip().lower()
        options = self.query_one("#mapping-picker-list", OptionList)
        options.clear_options()
        if self.clear and not needle:
            options.add_option(Option(Text(self.clear, style="italic"), id=CLEAR))
        wanted = [
            o
            for o in self.choices
            if not needle or needle in (o.id or "").lower() or needle in str(o.prompt).lower()
        ]
        options.add_options(wanted)
        if not wanted and needle:
            options.add_option(
                Option(Text(_("Niets gevonden voor") + f" '{text}'", style="dim"), disabled=True)
            )
        for index in range(options.option_count):
            if options.get_option_at_index(index).id == self.current:
                options.highlighted = index
                break
        else:
            first = next(
                (i for i in range(options.option_count) if not options.get_option_at_index(i).disabled), None
            )
            options.highlighted = first

    @on(Input.Changed, "#mapping-picker-search")
    def _search(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#mapping-picker-search")
    def _submit(self, event: Input.Submitted) -> None:
        options = self.query_one("#mapping-picker-list", OptionList)
        if options.highlighted is None:
            self.notify(_("Niets om te kiezen; pas de zoekterm aan."), severity="warning")
            return
        option = options.get_option_at_index(options.highlighted)
        if not option.disabled:
            self.dismiss(option.id)

    @on(OptionList.OptionSelected, "#mapping-picker-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_move(self, step: int) -> None:
        # Arrows move through the list while the search field keeps the focus, so typing never stops.
        options = self.query_one("#mapping-picker-list", OptionList)
        if step > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def action_search(self) -> None:
        self.query_one("#mapping-picker-search", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)


def _code_prompt(code: str, name: str, current: str) -> Text:
    text = Text(f"{code:<8} {name}")
    if code == current:
        text.append(f"  ({_('huidig')})", style="bold")
    return text


def _ledger_prompt(account: LedgerAccount, current: str) -> Text:
    mark = f"  ({_('huidig')})" if account.code == current else ""
    text = Text(f"{account.code:<8} {account.name}")
    text.append(f"  {account.category}", style="dim")
    text.append(mark, style="bold")
    return text


def _vat_prompt(vat: VatCode, current: str, rate: Decimal | None) -> Text:
    mark = f"  ({_('huidig')})" if vat.code == current else ""
    fits = vat.rate is None or rate is None or vat.rate == rate
    text = Text(f"{vat.code:<14} {vat.description}", style="" if fits else "dim")
    text.append(mark, style="bold")
    return text
