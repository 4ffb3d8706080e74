"""The connect wizard: the seed's connect dialog, step by step, in its words.

1. "Maak verbinding met e-Boekhouden.nl": Gebruikersnaam, Beveiligingscode 1 and 2 (or the API-token,
   or for FactuurSturen the Loginnaam and API-sleutel), checked against the vendor before anything is
   saved; a refusal shows the vendor's reason and what to do.
2. "Selecteer de administratie" (e-Boekhouden only), from the vendor's own list.
3. "Kies de tegenrekeningen" for Verkoop- and Inkoopfacturen of every koppeling that books into this
   connection, from the live chart of accounts, searchable.
Only then are the secrets, koppelaar.toml and the audit log written (sync.connect, shared with
`koppelaar connect`). Closing the wizard before that leaves everything as it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from pydantic import SecretStr
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    Button,
    ContentSwitcher,
    Footer,
    Header,
    Input,
    Label,
    LoadingIndicator,
    OptionList,
    Static,
    TextArea,
)
from textual.widgets.option_list import Option

from connectors.model import Administratie, LedgerAccount
from state.settings import Connection
from state.tokens import TokenStatus
from sync.connect import (
    Authorized,
    Candidate,
    Discovery,
    LoopbackListener,
    OAuthFailed,
    OAuthStart,
    TegenrekeningQuestion,
    Word,
    administratie_label,
    authorize,
    bookkeeping_choices,
    candidate,
    chooses_administratie,
    connect_intro,
    countries,
    credential_fields,
    current_administratie,
    open_listener,
    save_oauth,
    start_oauth,
    supports,
    unreachable,
    uses_browser,
    vendor_name,
    where_to_find,
    where_to_find_oauth,
)
from sync.service import token_status
from sync.workspace import ReadOnlyError
from tui.i18n import _
from tui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from tui.app import KoppelaarApp

CHECK_TIMEOUT = 60.0  # seconds; a vendor that does not answer must not leave the wizard spinning forever
LEDGER_HINT = "U vindt de standaard grootboekrekeningen in e-Boekhouden.nl via Beheer > Inrichting > Grootboekrekeningen."


def _koppelaar(app: App[Any]) -> KoppelaarApp:
    return cast("KoppelaarApp", app)


class ConnectScreen(Screen[bool]):
    """Connect (or reconnect) one connection. Dismisses with True once it is saved and connected."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", _("Sluiten"), id="connect-close"),
        Binding("slash", "filter", _("Filter"), show=False, id="filter"),
    ]

    def __init__(self, connection: str) -> None:
        super().__init__()
        self.connection_name = connection
        self.busy = False  # validating or saving: the buttons that start either are disabled
        self.saving = False  # a save cannot be interrupted halfway, so closing waits for it
        self.chosen: Candidate | None = None
        self.found: Discovery | None = None
        self.administratie: str | None = None
        self.answers: dict[tuple[str, Word], str] = {}
        self.question_index = 0
        self.connected = False

    @property
    def koppelaar(self) -> KoppelaarApp:
        return _koppelaar(self.app)

    @property
    def vendor(self) -> str:
        return vendor_name(self.koppelaar.workspace.settings.connections[self.connection_name])

    def compose(self) -> ComposeResult:
        connection = self.koppelaar.workspace.settings.connections[self.connection_name]
        vendor = vendor_name(connection)
        yield Header()
        with ContentSwitcher(initial="step-login", id="connect-steps"):
            with VerticalScroll(id="step-login"):
                yield Static(_("Maak verbinding met") + f" {vendor}", classes="connect-title")
                yield Static(_(connect_intro(connection)), classes="connect-text")
                yield Static(_(where_to_find(connection)), classes="connect-hint")
                if self.koppelaar.read_only:
                    yield Static(
                        "[$warning]"
                        + _("Alleen-lezen: u kunt de gegevens controleren, maar er wordt niets opgeslagen.")
                        + "[/]",
                        classes="connect-text",
                    )
                for question in credential_fields(connection):
                    with Horizontal(classes="connect-field"):
                        yield Label(_(question.label), classes="connect-label")
                        yield Input(
                            value="" if question.secret else getattr(connection, question.key, ""),
                            password=question.secret,
                            id=f"field-{question.key}",
                        )
                with Horizontal(classes="connect-buttons"):
                    yield Button(_("Maak verbinding met") + f" {vendor}", id="connect", variant="primary")
                    yield Button(_("Sluiten"), id="close")
                    yield Button(_("Verbinding verbreken"), id="disconnect", variant="error")
                yield LoadingIndicator(id="connect-spinner")
                yield Static("", id="connect-status")
            with Vertical(id="step-administratie"):
                yield Static(_("Selecteer de administratie"), classes="connect-title")
                yield Static(
                    _(
                        "Selecteer de administratie in e-Boekhouden.nl die u wilt koppelen en kies OK (Enter)."
                    ),
                    classes="connect-text",
                )
                yield Input(placeholder=_("/ Filter"), id="administratie-filter")
                yield OptionList(id="administraties")
                with Horizontal(classes="connect-buttons"):
                    yield Button(_("OK"), id="administratie-ok", variant="primary")
                    yield Button(_("Sluiten"), id="close-administratie")
            with Vertical(id="step-tegenrekening"):
                yield Static(_("Kies de tegenrekeningen"), classes="connect-title")
                yield Static("", id="tegenrekening-question", classes="connect-text")
                yield Input(placeholder=_("/ Zoek op code of naam"), id="tegenrekening-filter")
                yield OptionList(id="tegenrekeningen")
                with Horizontal(classes="connect-buttons"):
                    yield Button(_("OK"), id="tegenrekening-ok", variant="primary")
                    yield Button(_("Sluiten"), id="close-tegenrekening")
                yield Static("", id="save-status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.connection_name} — " + _("Niet verbonden")
        self.query_one("#connect-spinner").display = False
        self.query_one("#disconnect").display = False
        self.query_one("#step-login Input", Input).focus()
        self._load_state()

    @work(thread=True, exclusive=True, group="connect-state")
    def _load_state(self) -> None:
        # The secret store may be a keyring that takes seconds to answer: never on the event loop.
        connected = self.koppelaar.workspace.is_connected(self.connection_name)
        self.app.call_from_thread(self._show_state, connected)

    def _show_state(self, connected: bool) -> None:
        if self.connected:  # a save finished meanwhile: that is the truth now
            return
        state = _("Verbonden") if connected else _("Niet verbonden")
        self.sub_title = f"{self.connection_name} — {state}"
        self.query_one("#disconnect").display = connected and not self.koppelaar.read_only
        if not self.busy:
            self._status(
                state
                if not connected
                else state + " — " + _("laat leeg wat niet veranderd is: de opgeslagen waarde blijft")
            )

    def _status(self, markup: str, widget: str = "#connect-status") -> None:
        self.query_one(widget, Static).update(markup)

    # -- step 1: credentials ------------------------------------------------------------------------

    @on(Input.Submitted, "#step-login Input")
    def _next_field(self, event: Input.Submitted) -> None:
        inputs = list(self.query("#step-login Input").results(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self.action_connect()

    def action_connect(self) -> None:
        if self.busy:
            return
        connection = self.koppelaar.workspace.settings.connections[self.connection_name]
        username = ""
        secrets: dict[str, SecretStr] = {}
        for question in credential_fields(connection):
            value = self.query_one(f"#field-{question.key}", Input).value
            if question.secret:
                secrets[question.key] = SecretStr(value.strip())
            else:
                username = value
        if "username" in {q.key for q in credential_fields(connection)} and not username.strip():
            self._status("[$error]" + _("Niet verbonden") + ":[/] " + _("vul de gebruikersnaam in."))
            self.query_one("#field-username", Input).focus()
            return
        self.chosen = candidate(self.connection_name, connection, username, secrets)
        self._busy(True)
        self._status(_("Verbinden met") + f" {self.vendor}…")
        self._discover(self.chosen)

    def _busy(self, busy: bool) -> None:
        self.busy = busy
        self.query_one("#connect-spinner").display = busy
        self.query_one("#connect", Button).disabled = busy

    @work(thread=True, exclusive=True, group="connect")
    def _discover(self, chosen: Candidate) -> None:
        # A thread with its own event loop: the vendor's answer (and a slow keyring) never freeze the UI.
        async def ask() -> Discovery:
            return await asyncio.wait_for(
                self.koppelaar.workspace.discover_connection(chosen), timeout=CHECK_TIMEOUT
            )

        try:
            found = asyncio.run(ask())
        except Exception as exc:  # shown as the reason: connecting is diagnosis too
            found = unreachable(exc)
        self.app.call_from_thread(self._discovered, chosen, found)

    def _discovered(self, chosen: Candidate, found: Discovery) -> None:
        if not self.is_attached or chosen is not self.chosen:
            return  # closed or retried meanwhile
        self._busy(False)
        if not found.ok:
            lines = ["[$error]" + _("Niet verbonden") + ":[/] " + escape(found.check.reason)]
            if found.check.advice:
                lines.append(_("Wat te doen") + ": " + escape(found.check.advice))
            self._status("\n".join(lines))
            return
        self.found = found
        self._status("[$success]" + escape(found.check.reason) + "[/]")
        connection = chosen.connection
        if chooses_administratie(connection):
            if not found.administraties:
                self._status(
                    "[$error]"
                    + _(
                        "{vendor} levert geen administraties; controleer de toegang van deze gebruiker."
                    ).format(vendor=self.vendor)
                    + "[/]"
                )
                return
            self._show_administraties(connection.administratie_id)
        else:
            self._save()

    # -- step 2: administratie ----------------------------------------------------------------------

    def _show_administraties(self, current: str) -> None:
        self.query_one(ContentSwitcher).current = "step-administratie"
        self._fill_administraties("", current)
        self.query_one("#administraties", OptionList).focus()

    def _fill_administraties(self, text: str, current: str = "") -> None:
        assert self.found is not None
        current = current or self.administratie or self._current_administratie()
        options = self.query_one("#administraties", OptionList)
        options.clear_options()
        wanted = [a for a in self.found.administraties if _matches(text, a.id, a.name)]
        options.add_options(Option(_administratie_prompt(a, current), id=a.id) for a in wanted)
        _highlight(options, current)

    def _current_administratie(self) -> str:
        connection = self.koppelaar.workspace.settings.connections[self.connection_name]
        return connection.administratie_id

    @on(Input.Changed, "#administratie-filter")
    def _filter_administraties(self, event: Input.Changed) -> None:
        self._fill_administraties(event.value)

    @on(OptionList.OptionSelected, "#administraties")
    def _administratie_selected(self, event: OptionList.OptionSelected) -> None:
        self._choose_administratie(event.option_id)

    def _choose_administratie(self, administratie: str | None) -> None:
        if administratie is None:
            self.notify(_("Kies eerst een administratie."), severity="warning")
            return
        assert self.found is not None
        self.administratie = administratie
        if self.found.questions:
            self.question_index = 0
            self.query_one(ContentSwitcher).current = "step-tegenrekening"
            self._show_question()
        else:
            self._save()

    # -- step 3: tegenrekeningen --------------------------------------------------------------------

    @property
    def question(self) -> TegenrekeningQuestion:
        assert self.found is not None
        return self.found.questions[self.question_index]

    def _show_question(self) -> None:
        assert self.found is not None
        question = self.question
        total = len(self.found.questions)
        what = _("Verkoopfacturen") if question.word == "verkoop" else _("Inkoopfacturen")
        current = self.answers.get(question.key, question.current)
        lines = [
            f"[b]{what}[/b] — {_('koppeling')} {escape(question.koppeling)} ({self.question_index + 1}/{total})"
            + (f", {_('huidig')}: {escape(current)}" if current else ""),
            _(LEDGER_HINT),
        ]
        self._status("\n".join(lines), "#tegenrekening-question")
        search = self.query_one("#tegenrekening-filter", Input)
        with search.prevent(Input.Changed):
            search.value = ""
        self._fill_ledgers("", current)
        self.query_one("#tegenrekeningen", OptionList).focus()

    def _fill_ledgers(self, text: str, current: str = "") -> None:
        assert self.found is not None
        current = current or self.answers.get(self.question.key, self.question.current)
        options = self.query_one("#tegenrekeningen", OptionList)
        options.clear_options()
        wanted = [ledger for ledger in self.found.tegenrekeningen if _matches(text, ledger.code, ledger.name)]
        options.add_options(Option(_ledger_prompt(ledger, current), id=ledger.code) for ledger in wanted)
        _highlight(options, current)
        if not wanted:
            self._status(_("Geen grootboekrekening gevonden voor") + f" '{escape(text)}'.", "#save-status")
        else:
            self._status("", "#save-status")

    @on(Input.Changed, "#tegenrekening-filter")
    def _filter_ledgers(self, event: Input.Changed) -> None:
        self._fill_ledgers(event.value)

    @on(Input.Submitted, "#administratie-filter, #tegenrekening-filter")
    def _to_list(self, event: Input.Submitted) -> None:
        target = "#administraties" if event.input.id == "administratie-filter" else "#tegenrekeningen"
        options = self.query_one(target, OptionList)
        if options.highlighted is None and options.option_count:
            options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected, "#tegenrekeningen")
    def _ledger_selected(self, event: OptionList.OptionSelected) -> None:
        self._choose_ledger(event.option_id)

    def _choose_ledger(self, code: str | None) -> None:
        if code is None:
            self.notify(_("Kies eerst een grootboekrekening."), severity="warning")
            return
        assert self.found is not None
        self.answers[self.question.key] = code
        if self.question_index + 1 < len(self.found.questions):
            self.question_index += 1
            self._show_question()
        else:
            self._save()

    # -- saving -------------------------------------------------------------------------------------

    def _save(self) -> None:
        if self.koppelaar.read_only:
            message = (
                "[$warning]" + _("Alleen-lezen: de verbinding is gecontroleerd maar niet opgeslagen.") + "[/]"
            )
            self.query_one(ContentSwitcher).current = "step-login"
            self._status(message)
            self.notify(_("Alleen-lezen: er is niets opgeslagen."), severity="warning")
            return
        assert self.chosen is not None
        self.saving = True
        self._busy(True)
        self._status(_("Opslaan…"), "#save-status")
        self._status(_("Opslaan…"))
        self._store(self.chosen, self.administratie, dict(self.answers))

    @work(thread=True, exclusive=True, group="connect-save")
    def _store(
        self, chosen: Candidate, administratie: str | None, answers: dict[tuple[str, Word], str]
    ) -> None:
        try:
            self.koppelaar.workspace.save_connection(
                chosen, administratie=administratie, tegenrekeningen=answers or None
            )
        except Exception as exc:  # the store or koppelaar.toml refused: say why, keep the wizard open
            self.app.call_from_thread(self._save_failed, str(exc))
            return
        finally:
            self.saving = False
        self.app.call_from_thread(self._saved)

    def _save_failed(self, reason: str) -> None:
        self._busy(False)
        self.query_one(ContentSwitcher).current = "step-login"
        self._status("[$error]" + _("Niet opgeslagen") + ":[/] " + escape(reason))

    def _saved(self) -> None:
        self.connected = True
        self._busy(False)
        self.query_one(ContentSwitcher).current = "step-login"
        # Typed secrets leave the screen as soon as they are stored.
        for field in self.query("#step-login Input").results(Input):
            if field.password:
                field.value = ""
        self.sub_title = f"{self.connection_name} — " + _("Verbonden")
        summary = [f"[$success]{_('Verbonden')}[/]: {escape(self.connection_name)}."]
        if self.administratie:
            names = {a.id: a.name for a in (self.found.administraties if self.found else [])}
            name = names.get(self.administratie, "")
            summary.append(f"{_('Administratie')}: {escape(name or self.administratie)}")
        for (koppeling, word), code in self.answers.items():
            summary.append(f"{_('Tegenrekening')} {word}facturen ({escape(koppeling)}): {escape(code)}")
        self._status("\n".join(summary))
        self.query_one("#connect", Button).label = _("Opnieuw verbinden")
        self.query_one("#close", Button).focus()
        self.notify(f"{self.connection_name}: {_('Verbonden')}", title=self.vendor)

    # -- closing and disconnecting ------------------------------------------------------------------

    def action_close(self) -> None:
        if self.saving:
            self.notify(_("Bezig met opslaan…"), severity="warning")
            return
        # Nothing is written before the last step, so closing earlier leaves everything untouched.
        self.dismiss(self.connected)

    def action_filter(self) -> None:
        step = self.query_one(ContentSwitcher).current
        if step == "step-administratie":
            self.query_one("#administratie-filter", Input).focus()
        elif step == "step-tegenrekening":
            self.query_one("#tegenrekening-filter", Input).focus()

    def action_disconnect(self) -> None:
        def done() -> None:
            self.query_one("#disconnect").display = False
            self.connected = False
            self.sub_title = f"{self.connection_name} — " + _("Niet verbonden")
            self._status(_("Niet verbonden"))

        confirm_disconnect(self.app, self.connection_name, done)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        button = event.button.id or ""
        if button == "connect":
            self.action_connect()
        elif button.startswith("close"):
            self.action_close()
        elif button == "disconnect":
            self.action_disconnect()
        elif button == "administratie-ok":
            options = self.query_one("#administraties", OptionList)
            self._choose_administratie(_option_id(options))
        elif button == "tegenrekening-ok":
            self._choose_ledger(_option_id(self.query_one("#tegenrekeningen", OptionList)))


def _matches(text: str, *fields: str) -> bool:
    needle = text.strip().lower()
    return not needle or any(needle in value.lower() for value in fields)


def _administratie_prompt(administratie: Administratie, current: str) -> Text:
    mark = f"  ({_('huidig')})" if administratie.id == current else ""
    return Text(f"{administratie.name}  {administratie.id}{mark}")


def _ledger_prompt(ledger: LedgerAccount, current: str) -> Text:
    mark = f"  ({_('huidig')})" if ledger.code == current else ""
    return Text(f"{ledger.code:<8} {ledger.name}{mark}")


def _highlight(options: OptionList, wanted: str) -> None:
    for index in range(options.option_count):
        if options.get_option_at_index(index).id == wanted:
            options.highlighted = index
            return
    if options.option_count:
        options.highlighted = 0


def _option_id(options: OptionList) -> str | None:
    if options.highlighted is None:
        return None
    return options.get_option_at_index(options.highlighted).id


# -- choosing a connection, disconnecting: used by the Status tab and the command palette ----------------


class ChooseConnectionScreen(ModalScreen[str | None]):
    """Which of a koppeling's connections to (re)connect: its source or its target."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", _("Sluiten"), id="choose-close"),
    ]

    def __init__(self, koppeling: str) -> None:
        super().__init__()
        self.koppeling = koppeling

    def compose(self) -> ComposeResult:
        settings = _koppelaar(self.app).workspace.settings
        koppeling = settings.koppelingen[self.koppeling]
        options = OptionList(id="choose-connection")
        for role, name in ((_("Bron"), koppeling.source), (_("Doel"), koppeling.target)):
            connection = settings.connections[name]
            options.add_option(Option(Text(f"{role}: {name} ({vendor_name(connection)})"), id=name))
        with Vertical(id="choose"):
            yield Static(_("Opnieuw verbinden") + f": {self.koppeling}", classes="connect-title")
            yield Static(_("Welke verbinding? Enter kiest, Esc sluit."), classes="connect-text")
            yield options

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option_id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def open_connect(app: App[Any], connection: str, on_done: Callable[[bool], None] | None = None) -> None:
    """The wizard for one connection; `on_done(True)` once it was saved and connected."""
    settings = _koppelaar(app).workspace.settings
    chosen = settings.connections[connection]

    def closed(connected: bool | None) -> None:
        if on_done is not None:
            on_done(bool(connected))

    if uses_browser(chosen):
        app.push_screen(OAuthConnectScreen(connection), closed)
        return
    if not supports(chosen):
        app.notify(
            f"{connection}: " + _("deze verbinding kan hier niet verbonden worden."), severity="warning"
        )
        return
    app.push_screen(ConnectScreen(connection), closed)


def reconnect(app: App[Any], koppeling: str, on_done: Callable[[bool], None] | None = None) -> None:
    """Let the user pick the koppeling's source or target, then open the wizard for it."""

    def picked(connection: str | None) -> None:
        if connection:
            open_connect(app, connection, on_done)

    app.push_screen(ChooseConnectionScreen(koppeling), picked)


def confirm_disconnect(app: App[Any], connection: str, on_done: Callable[[], None] | None = None) -> None:
    """Ask, then wipe the connection's secrets (like `koppelaar disconnect`)."""
    koppelaar = _koppelaar(app)
    if koppelaar.read_only:
        app.notify(_("Alleen-lezen: een verbinding verbreken is niet toegestaan."), severity="warning")
        return
    settings = koppelaar.workspace.settings
    users = [k for k, v in settings.koppelingen.items() if connection in (v.source, v.target)]
    question = _(
        "Verbinding '{name}' verbreken? De geheimen worden gewist; {users} stopt tot u opnieuw verbindt."
    )
    question = question.format(name=connection, users=", ".join(users) or _("geen koppeling"))

    def answered(yes: bool | None) -> None:
        if yes:
            _disconnect(app, connection, on_done)

    app.push_screen(ConfirmScreen(question), answered)


def _disconnect(app: App[Any], connection: str, on_done: Callable[[], None] | None) -> None:
    koppelaar = _koppelaar(app)

    def wipe() -> None:
        # Secret store and SQLite: off the event loop.
        try:
            koppelaar.workspace.disconnect(connection)
        except Exception as exc:
            app.call_from_thread(app.notify, str(exc), severity="error")
            return
        message = _("Verbinding '{name}' verbroken: Niet verbonden.").format(name=connection)
        app.call_from_thread(app.notify, message)
        if on_done is not None:
            app.call_from_thread(on_done)

    app.run_worker(wipe, thread=True, group="disconnect", exit_on_error=False)


# -- Exact Online and Twinfield: "Autoriseer applicatie" ------------------------------------------------


@dataclass
class _Question:
    """One choice in the OAuth wizard's list step: administratie, a journal, or a tegenrekening."""

    key: str  # "administratie", "verkoopboek", "inkoopboek", or "koppeling:verkoop"
    title: str
    text: str
    options: list[tuple[str, str]]  # (code, name)
    current: str


class OAuthConnectScreen(Screen[bool]):
    """Connect Exact Online or Twinfield: Client ID / Client secret (and NL/BE for Exact), then
    "Autoriseer applicatie": the URL to open in any browser (selectable and copyable: the console often
    runs over SSH) and a field to paste the address the browser lands on. A loopback listener catches
    that address by itself when the browser can reach this machine. Then Divisie code / administratie,
    dagboeken and tegenrekeningen; only then is anything saved (sync.connect, shared with
    `koppelaar connect`)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", _("Sluiten"), id="connect-close"),
        Binding("slash", "filter", _("Filter"), show=False, id="filter"),
        Binding("ctrl+y", "copy_url", _("Kopieer URL"), id="oauth-copy-url"),
    ]

    def __init__(self, connection: str) -> None:
        super().__init__()
        self.connection_name = connection
        self.busy = False
        self.saving = False
        self.connected = False
        self.start: OAuthStart | None = None
        self.authorized: Authorized | None = None
        self.questions: list[_Question] = []
        self.question_index = 0
        self.answers: dict[str, str] = {}
        self.listener: LoopbackListener | None = None

    @property
    def koppelaar(self) -> KoppelaarApp:
        return _koppelaar(self.app)

    @property
    def connection(self) -> Connection:
        return self.koppelaar.workspace.settings.connections[self.connection_name]

    def compose(self) -> ComposeResult:
        connection = self.connection
        vendor = vendor_name(connection)
        yield Header()
        with ContentSwitcher(initial="oauth-app", id="connect-steps"):
            with VerticalScroll(id="oauth-app"):
                yield Static(_("Autoriseer") + f" {vendor}", classes="connect-title")
                yield Static(_(where_to_find_oauth(connection)), classes="connect-hint")
                if self.koppelaar.read_only:
                    yield Static(
                        "[$warning]"
                        + _(
                            "Alleen-lezen: u kunt autoriseren om te controleren, maar er wordt niets opgeslagen."
                        )
                        + "[/]",
                        classes="connect-text",
                    )
                with Horizontal(classes="connect-field"):
                    yield Label(_("Client ID"), classes="connect-label")
                    yield Input(value=getattr(connection, "client_id", ""), id="oauth-client-id")
                with Horizontal(classes="connect-field"):
                    yield Label(_("Client secret"), classes="connect-label")
                    yield Input(
                        password=True,
                        placeholder=_("leeg: het opgeslagen secret houden"),
                        id="oauth-client-secret",
                    )
                choices = countries(connection)
                if choices:
                    with Horizontal(classes="connect-field"):
                        codes = " of ".join(code for code, _label in choices)
                        yield Label(_("Land ({codes})").format(codes=codes), classes="connect-label")
                        yield Input(
                            value=getattr(connection, "country", ""), max_length=2, id="oauth-country"
                        )
                with Horizontal(classes="connect-buttons"):
                    yield Button(_("Autoriseer applicatie"), id="oauth-start", variant="primary")
                    yield Button(_("Sluiten"), id="close")
                    yield Button(_("Verbinding verbreken"), id="disconnect", variant="error")
                yield Static("", id="connect-status")
            with VerticalScroll(id="oauth-authorize"):
                yield Static(_("Autoriseer applicatie"), classes="connect-title")
                yield Static(
                    _(
                        "Open deze URL in een browser (Ctrl+Y kopieert hem), log in met een account dat "
                        "toegang heeft tot de administratie en kies Toestaan (Allow):"
                    ),
                    classes="connect-text",
                )
                yield TextArea("", read_only=True, soft_wrap=True, id="oauth-url")
                yield Static(
                    _("Plak daarna het adres waar de browser op uitkomt (of alleen de code):"),
                    classes="connect-text",
                )
                yield Input(placeholder=_("https://…?code=…&state=…"), id="oauth-pasted")
                with Horizontal(classes="connect-buttons"):
                    yield Button(_("Verder"), id="oauth-paste", variant="primary")
                    yield Button(_("Opnieuw starten"), id="oauth-restart")
                    yield Button(_("Sluiten"), id="close-authorize")
                yield LoadingIndicator(id="connect-spinner")
                yield Static("", id="oauth-status")
            with Vertical(id="oauth-choose"):
                yield Static("", id="oauth-question-title", classes="connect-title")
                yield Static("", id="oauth-question", classes="connect-text")
                yield Input(placeholder=_("/ Zoek op code of naam"), id="oauth-filter")
                yield OptionList(id="oauth-options")
                with Horizontal(classes="connect-buttons"):
                    yield Button(_("OK"), id="oauth-ok", variant="primary")
                    yield Button(_("Sluiten"), id="close-choose")
                yield Static("", id="save-status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.connection_name} — " + _("Wacht op autorisatie")
        self.query_one("#connect-spinner").display = False
        self.query_one("#disconnect").display = False
        self.query_one("#oauth-client-id", Input).focus()
        self._load_state()

    def on_unmount(self) -> None:
        self._stop_listening()

    def _status(self, markup: str, widget: str = "#connect-status") -> None:
        self.query_one(widget, Static).update(markup)

    def _busy(self, busy: bool) -> None:
        self.busy = busy
        self.query_one("#connect-spinner").display = busy
        self.query_one("#oauth-start", Button).disabled = busy
        self.query_one("#oauth-paste", Button).disabled = busy

    @work(thread=True, exclusive=True, group="connect-state")
    def _load_state(self) -> None:
        # Secret store (maybe a keyring) and SQLite: never on the event loop.
        workspace = self.koppelaar.workspace
        status = token_status(workspace.home.database, self.connection_name, workspace.secrets)
        has_secret = workspace.is_connected(self.connection_name)
        self.app.call_from_thread(self._show_state, status, has_secret)

    def _show_state(self, status: TokenStatus | None, has_secret: bool) -> None:
        if self.connected:
            return
        if status is None or not has_secret:
            state = _("Wacht op autorisatie")
        elif status.state != "ok":
            state = _("Herautorisatie nodig") + f": {escape(status.reason)}"
        else:
            days = status.days_until_refresh_expiry
            state = (
                _("Geautoriseerd")
                + " — "
                + _("vernieuwingstoken nog {days} dagen geldig").format(days=f"{days:.0f}")
            )
        self.sub_title = f"{self.connection_name} — {Text.from_markup(state).plain}"
        self.query_one("#disconnect").display = has_secret and not self.koppelaar.read_only
        if not self.busy:
            self._status(state)

    # -- step 1: the app's credentials and the URL -----------------------------------------------------

    @on(Input.Submitted, "#oauth-app Input")
    def _next_field(self, event: Input.Submitted) -> None:
        inputs = list(self.query("#oauth-app Input").results(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self.action_authorize()

    def action_authorize(self) -> None:
        if self.busy:
            return
        client_id = self.query_one("#oauth-client-id", Input).value
        secret = SecretStr(self.query_one("#oauth-client-secret", Input).value.strip())
        country = ""
        choices = countries(self.connection)
        if choices:
            country = self.query_one("#oauth-country", Input).value.strip().upper()
            if country not in {code for code, _label in choices}:
                options = " of ".join(f"{code} ({label})" for code, label in choices)
                self._status("[$error]" + _("Kies {options}.").format(options=options) + "[/]")
                self.query_one("#oauth-country", Input).focus()
                return
        self._busy(True)
        self._start(client_id, secret, country)

    @work(thread=True, exclusive=True, group="connect")
    def _start(self, client_id: str, secret: SecretStr, country: str) -> None:
        workspace = self.koppelaar.workspace
        try:
            start = start_oauth(
                self.connection_name,
                self.connection,
                workspace.secrets,
                client_id=client_id,
                client_secret=secret,
                country=country,
            )
        except OAuthFailed as exc:
            self.app.call_from_thread(self._failed, exc, "#connect-status")
            return
        self.app.call_from_thread(self._show_url, start)

    def _failed(self, exc: OAuthFailed, widget: str) -> None:
        self._busy(False)
        lines = ["[$error]" + _("Niet geautoriseerd") + ":[/] " + escape(exc.message)]
        if exc.advice:
            lines.append(_("Wat te doen") + ": " + escape(exc.advice))
        self._status("\n".join(lines), widget)

    def _show_url(self, start: OAuthStart) -> None:
        self._busy(False)
        self.start = start
        self.query_one(ContentSwitcher).current = "oauth-authorize"
        self.query_one("#oauth-url", TextArea).load_text(start.url)
        pasted = self.query_one("#oauth-pasted", Input)
        pasted.value = ""
        pasted.focus()
        self.sub_title = f"{self.connection_name} — " + _("Wacht op autorisatie")
        self._status(
            "[$warning]" + _("Wacht op autorisatie") + "…[/] " + _("een code is ongeveer 3 minuten geldig."),
            "#oauth-status",
        )
        self._listen(start)

    @work(exclusive=True, group="oauth-listen", exit_on_error=False)
    async def _listen(self, start: OAuthStart) -> None:
        """When the redirect URI is a loopback address, catch the browser's arrival there. (exclusive:
        a restarted authorization cancels the previous listener, whose `finally` closes its port.)"""
        listener = await open_listener(start.connection.redirect_uri)
        if listener is None:
            return
        self.listener = listener
        port = listener.port
        self._status(
            "[$warning]"
            + _("Wacht op autorisatie")
            + "…[/] "
            + _(
                "de browser mag ook terugkeren naar {url} (over SSH: ssh -L {port}:127.0.0.1:{port} …)."
            ).format(url=escape(listener.url), port=port),
            "#oauth-status",
        )
        try:
            caught = await listener.wait(timeout=3600)
        finally:
            await listener.close()
        if caught and self.start is start and self.authorized is None and not self.busy:
            self.query_one("#oauth-pasted", Input).value = caught
            self.action_paste()

    def _stop_listening(self) -> None:
        self.workers.cancel_group(self, "oauth-listen")
        self.listener = None

    def action_copy_url(self) -> None:
        if self.start is not None:
            self.app.copy_to_clipboard(self.start.url)
            self.notify(_("URL gekopieerd (als de terminal dat toestaat)."))

    # -- step 2: the pasted redirect ----------------------------------------------------------------

    @on(Input.Submitted, "#oauth-pasted")
    def _pasted(self) -> None:
        self.action_paste()

    def action_paste(self) -> None:
        if self.busy or self.start is None:
            return
        self._busy(True)
        self._status(_("Autoriseren bij") + f" {self.start.vendor}…", "#oauth-status")
        self._authorize(self.start, self.query_one("#oauth-pasted", Input).value)

    @work(exclusive=True, group="connect", exit_on_error=False)
    async def _authorize(self, start: OAuthStart, pasted: str) -> None:
        try:
            authorized = await asyncio.wait_for(authorize(start, pasted), timeout=CHECK_TIMEOUT)
        except OAuthFailed as exc:
            self._failed(exc, "#oauth-status")
            return
        except Exception as exc:  # network trouble: shown as the reason
            self._failed(OAuthFailed(str(exc) or type(exc).__name__), "#oauth-status")
            return
        if not self.is_attached or start is not self.start:
            return
        self._stop_listening()
        self._busy(False)
        self.authorized = authorized
        self.sub_title = f"{self.connection_name} — " + _("Geautoriseerd") + ", " + _("nog niet opgeslagen")
        vendor = start.vendor
        label = administratie_label(start.connection)
        self.questions = [
            _Question(
                "administratie",
                _(label) if label else _("Selecteer de administratie"),
                escape(authorized.reason)
                + ". "
                + _("Kies de administratie in {vendor} die u wilt koppelen.").format(vendor=vendor),
                [(a.id, a.name) for a in authorized.administraties],
                current_administratie(authorized),
            )
        ]
        self.question_index = 0
        self.query_one(ContentSwitcher).current = "oauth-choose"
        self._show_question()

    # -- step 3: administratie, dagboeken, tegenrekeningen ---------------------------------------------

    @property
    def question(self) -> _Question:
        return self.questions[self.question_index]

    def _show_question(self) -> None:
        question = self.question
        self._status(question.title, "#oauth-question-title")
        current = self.answers.get(question.key, question.current)
        extra = f" ({_('huidig')}: {escape(current)})" if current else ""
        self._status(question.text + extra, "#oauth-question")
        search = self.query_one("#oauth-filter", Input)
        with search.prevent(Input.Changed):
            search.value = ""
        self._fill("", current)
        self.query_one("#oauth-options", OptionList).focus()

    def _fill(self, text: str, current: str = "") -> None:
        current = current or self.answers.get(self.question.key, self.question.current)
        options = self.query_one("#oauth-options", OptionList)
        options.clear_options()
        wanted = [(code, name) for code, name in self.question.options if _matches(text, code, name)]
        for code, name in wanted:
            mark = f"  ({_('huidig')})" if code == current else ""
            options.add_option(Option(Text(f"{code:<8} {name}{mark}"), id=code))
        _highlight(options, current)
        self._status("" if wanted else _("Niets gevonden voor") + f" '{escape(text)}'.", "#save-status")

    @on(Input.Changed, "#oauth-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#oauth-filter")
    def _filter_to_list(self) -> None:
        options = self.query_one("#oauth-options", OptionList)
        if options.highlighted is None and options.option_count:
            options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected, "#oauth-options")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._answer(event.option_id)

    def _answer(self, code: str | None) -> None:
        if code is None or self.busy:
            return
        self.answers[self.question.key] = code
        if self.question.key == "administratie":
            assert self.authorized is not None
            self._busy(True)
            self._status(_("Dagboeken en grootboekrekeningen ophalen…"), "#save-status")
            self._choices(self.authorized, code)
            return
        if self.question_index + 1 < len(self.questions):
            self.question_index += 1
            self._show_question()
        else:
            self._save()

    @work(exclusive=True, group="connect", exit_on_error=False)
    async def _choices(self, authorized: Authorized, administratie: str) -> None:
        settings = self.koppelaar.workspace.settings
        try:
            choices = await asyncio.wait_for(
                bookkeeping_choices(settings, authorized, administratie), timeout=CHECK_TIMEOUT
            )
        except OAuthFailed as exc:
            self._failed(exc, "#save-status")
            return
        except Exception as exc:
            self._failed(OAuthFailed(str(exc) or type(exc).__name__), "#save-status")
            return
        self._busy(False)
        self.questions = self.questions[:1]
        self.questions.append(
            _Question(
                "verkoopboek",
                _("Verkoopboek"),
                _("Het dagboek voor de verkoopfacturen."),
                choices.sales_journals,
                choices.current_sales,
            )
        )
        self.questions.append(
            _Question(
                "inkoopboek",
                _("Inkoopboek"),
                _("Het dagboek voor de inkoopfacturen."),
                choices.purchase_journals,
                choices.current_purchase,
            )
        )
        ledgers = [(ledger.code, ledger.name) for ledger in choices.tegenrekeningen]
        for pick in choices.questions:
            what = _("Verkoopfacturen") if pick.word == "verkoop" else _("Inkoopfacturen")
            self.questions.append(
                _Question(
                    f"{pick.koppeling}:{pick.word}",
                    _("Kies de tegenrekeningen"),
                    f"[b]{what}[/b] — {_('koppeling')} {escape(pick.koppeling)}",
                    ledgers,
                    pick.current,
                )
            )
        self.questions = [q for q in self.questions if q.options or q.key == "administratie"]
        self.question_index = 1
        if len(self.questions) > 1:
            self._show_question()
        else:
            self._save()

    # -- saving -----------------------------------------------------------------------------------

    def _save(self) -> None:
        if self.koppelaar.read_only:
            self.query_one(ContentSwitcher).current = "oauth-app"
            self._status(
                "[$warning]"
                + _("Alleen-lezen: de autorisatie is gecontroleerd maar niet opgeslagen.")
                + "[/]"
            )
            self.notify(_("Alleen-lezen: er is niets opgeslagen."), severity="warning")
            return
        assert self.authorized is not None
        self.saving = True
        self._busy(True)
        self._status(_("Opslaan…"), "#save-status")
        self._store(self.authorized, dict(self.answers))

    @work(thread=True, exclusive=True, group="connect-save")
    def _store(self, authorized: Authorized, answers: dict[str, str]) -> None:
        workspace = self.koppelaar.workspace
        tegenrekeningen: dict[tuple[str, Word], str] = {}
        for key, code in answers.items():
            koppeling, _sep, word = key.rpartition(":")
            if koppeling and word in ("verkoop", "inkoop"):
                tegenrekeningen[(koppeling, cast(Word, word))] = code
        try:
            if workspace.read_only:
                raise ReadOnlyError("verbinden")
            save_oauth(
                workspace.home.config,
                workspace.home.database,
                workspace.secrets,
                authorized,
                actor=workspace.actor,
                administratie=answers["administratie"],
                verkoopboek=answers.get("verkoopboek"),
                inkoopboek=answers.get("inkoopboek"),
                tegenrekeningen=tegenrekeningen,
            )
            workspace.reload()
        except Exception as exc:
            self.app.call_from_thread(self._save_failed, str(exc))
            return
        finally:
            self.saving = False
        self.app.call_from_thread(self._saved)

    def _save_failed(self, reason: str) -> None:
        self._busy(False)
        self.query_one(ContentSwitcher).current = "oauth-app"
        self._status("[$error]" + _("Niet opgeslagen") + ":[/] " + escape(reason))

    def _saved(self) -> None:
        self.connected = True
        self._busy(False)
        self.query_one(ContentSwitcher).current = "oauth-app"
        self.query_one("#oauth-client-secret", Input).value = ""
        self.sub_title = f"{self.connection_name} — " + _("Verbonden")
        summary = [
            f"[$success]{_('Verbonden')}[/]: {escape(self.connection_name)}. " + _("Access token aangemaakt.")
        ]
        labels = {
            "administratie": _("Administratie"),
            "verkoopboek": _("Verkoopboek"),
            "inkoopboek": _("Inkoopboek"),
        }
        for key, code in self.answers.items():
            label = labels.get(key) or _("Tegenrekening") + f" {key.replace(':', ' ')}"
            summary.append(f"{label}: {escape(code)}")
        self._status("\n".join(summary))
        self.query_one("#oauth-start", Button).label = _("Opnieuw autoriseren")
        self.query_one("#disconnect").display = True
        self.query_one("#close", Button).focus()
        self.notify(f"{self.connection_name}: {_('Verbonden')}", title=vendor_name(self.connection))

    # -- closing --------------------------------------------------------------------------------------

    def action_close(self) -> None:
        if self.saving:
            self.notify(_("Bezig met opslaan…"), severity="warning")
            return
        self._stop_listening()
        self.dismiss(self.connected)

    def action_filter(self) -> None:
        if self.query_one(ContentSwitcher).current == "oauth-choose":
            self.query_one("#oauth-filter", Input).focus()

    def action_restart(self) -> None:
        self._stop_listening()
        self.start = None
        self.authorized = None
        self.answers = {}
        self.query_one(ContentSwitcher).current = "oauth-app"
        self.query_one("#oauth-start", Button).focus()

    def action_disconnect(self) -> None:
        def done() -> None:
            self.query_one("#disconnect").display = False
            self.connected = False
            self.sub_title = f"{self.connection_name} — " + _("Niet verbonden")
            self._status(_("Niet verbonden"))

        confirm_disconnect(self.app, self.connection_name, done)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button = event.button.id or ""
        if button == "oauth-start":
            self.action_authorize()
        elif button == "oauth-paste":
            self.action_paste()
        elif button == "oauth-restart":
            self.action_restart()
        elif button.startswith("close"):
            self.action_close()
        elif button == "disconnect":
            self.action_disconnect()
        elif button == "oauth-ok":
            self._answer(_option_id(self.query_one("#oauth-options", OptionList)))
