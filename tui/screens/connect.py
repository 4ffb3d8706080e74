"""The connect wizard: one screen that renders a connection's connect steps (sync.connect_steps), in the
vendor's words: the fields to fill in (checked against the vendor before anything is saved; a refusal
shows the vendor's reason and what to do), the URL to open in any browser and the address to paste back
(a loopback listener catches it by itself when the browser can reach this machine), and the lists to
choose from (administratie, dagboeken, tegenrekeningen), searchable. Only after the last answer are the
secrets, koppelaar.toml and the audit log written; closing the wizard before that leaves everything as
it was. `koppelaar connect` renders the same questions on the terminal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

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

from sync.workspace import (
    AskFields,
    CheckResult,
    Choose,
    Connected,
    ConnectRunner,
    Health,
    LoopbackListener,
    OpenUrl,
    Place,
    Question,
    StepFailed,
    Words,
    Workspace,
    open_listener,
    token_status,
    vendor_name,
)
from tui.i18n import _
from tui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from tui.app import KoppelaarApp

CHECK_TIMEOUT = 60.0  # seconds; a vendor that does not answer must not leave the wizard spinning forever
STEP_OF: dict[type[Any], str] = {AskFields: "step-ask", OpenUrl: "step-authorise", Choose: "step-choose"}


def _koppelaar(app: App[Any]) -> KoppelaarApp:
    return cast("KoppelaarApp", app)


def _say(words: Words) -> str:
    """Words as console markup: translated, the values escaped."""
    return words.render(_, escape)


class ConnectScreen(Screen[bool]):
    """Connect (or reconnect) one connection. Dismisses with True once it is saved and connected."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", _("Sluiten"), id="connect-close"),
        Binding("slash", "filter", _("Filter"), show=False, id="filter"),
        Binding("ctrl+y", "copy_url", _("Kopieer URL"), id="oauth-copy-url"),
        # Arrows move through a list while its search field keeps the focus (as the Mapping picker).
        Binding("down", "move(1)", show=False, id="connect-down"),
        Binding("up", "move(-1)", show=False, id="connect-up"),
    ]

    def __init__(self, connection: str) -> None:
        super().__init__()
        self.connection_name = connection
        self.busy = False  # an answer is being checked or saved: the buttons that send one are disabled
        self.saving = False  # a save cannot be interrupted halfway, so closing waits for it
        self.connected = False
        self.disconnectable = False  # secrets are stored and the console may change them
        self.listener: LoopbackListener | None = None

    @property
    def koppelaar(self) -> KoppelaarApp:
        return _koppelaar(self.app)

    @property
    def question(self) -> Question:
        return self.runner.question

    def compose(self) -> ComposeResult:
        workspace = self.koppelaar.workspace
        home = workspace.home
        place = Place(
            workspace.settings,
            home.config,
            home.database,
            workspace.secrets,
            workspace.actor,
            workspace.read_only,
        )
        self.runner = ConnectRunner(place, self.connection_name)
        ask = self.runner.question
        assert isinstance(ask, AskFields)
        yield Header()
        with Vertical(id="connect-wizard"):
            yield Static("", id="connect-title", classes="connect-title")
            yield Static("", id="connect-text", classes="connect-text")
            yield Static("", id="connect-hint", classes="connect-hint")
            if workspace.read_only:
                yield Static(
                    "[$warning]"
                    + _("Alleen-lezen: u kunt de gegevens controleren, maar er wordt niets opgeslagen.")
                    + "[/]",
                    classes="connect-text",
                )
            with ContentSwitcher(initial="step-ask", id="connect-steps"):
                with VerticalScroll(id="step-ask"):
                    for field in ask.fields:
                        with Horizontal(classes="connect-field"):
                            yield Label(_say(field.label), classes="connect-label")
                            yield Input(
                                value=field.value,
                                password=field.secret,
                                placeholder=_("leeg:") + " " + _say(field.keep) if field.keep else "",
                                id=f"field-{field.key}",
                            )
                with Vertical(id="step-authorise"):
                    yield TextArea("", read_only=True, soft_wrap=True, id="authorise-url")
                    yield Static(
                        _("Plak daarna het adres waar de browser op uitkomt (of alleen de code):"),
                        classes="connect-text",
                    )
                    yield Input(placeholder=_("https://…?code=…&state=…"), id="authorise-pasted")
                with Vertical(id="step-choose"):
                    yield Input(placeholder=_("/ Zoek op code of naam"), id="choose-filter")
                    yield OptionList(id="choose-options")
            with Horizontal(classes="connect-buttons"):
                yield Button(_say(ask.action), id="connect", variant="primary")
                yield Button(_("Opnieuw starten"), id="restart")
                yield Button(_("Sluiten"), id="close")
                yield Button(_("Verbinding verbreken"), id="disconnect", variant="error")
            yield LoadingIndicator(id="connect-spinner")
            yield Static("", id="connect-status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.connection_name} — " + _("Niet verbonden")
        self.query_one("#connect-spinner").display = False
        self.query_one("#disconnect").display = False
        self._show(self.question)
        self._load_state()

    def on_unmount(self) -> None:
        self._stop_listening()

    def _status(self, markup: str, widget: str = "#connect-status") -> None:
        self.query_one(widget, Static).update(markup)

    def _busy(self, busy: bool) -> None:
        self.busy = busy
        self.query_one("#connect-spinner").display = busy
        self.query_one("#connect", Button).disabled = busy

    @work(thread=True, exclusive=True, group="connect-state")
    def _load_state(self) -> None:
        # The secret store may be a keyring that takes seconds to answer, the token vault is SQLite:
        # never on the event loop.
        workspace = self.koppelaar.workspace
        connected = workspace.is_connected(self.connection_name)
        if not connected and self.runner.authorises:
            self.app.call_from_thread(self._show_state, _("Wacht op autorisatie"), "", connected)
            return
        if not self.runner.authorises:
            if not connected:
                state = _("Niet verbonden")
                self.app.call_from_thread(self._show_state, state, state, connected)
                return
            # Stored is not connected: a revoked token is stored too. Only the vendor can say.
            checking = _("Controleren…")
            self.app.call_from_thread(self._show_state, checking, checking, connected)
            said, saying = self._vendor_says(workspace)
            hint = " — " + _("laat leeg wat niet veranderd is: de opgeslagen waarde blijft")
            self.app.call_from_thread(self._show_state, said, saying + hint, connected)
            return
        status = token_status(workspace.home.database, self.connection_name, workspace.secrets)
        if status is None:
            state = _("Wacht op autorisatie")
        elif status.state != "ok":
            state = _("Herautorisatie nodig") + f": {escape(status.reason)}"
        elif status.days_until_refresh_expiry is None:
            state = _("Geautoriseerd")
        else:
            days = f"{status.days_until_refresh_expiry:.0f}"
            state = (
                _("Geautoriseerd") + " — " + _("vernieuwingstoken nog {days} dagen geldig").format(days=days)
            )
        self.app.call_from_thread(self._show_state, state, state, connected)

    def _vendor_says(self, workspace: Workspace) -> tuple[str, str]:
        """(header state, status markup) after asking the vendor whether the stored secrets work."""
        try:
            result = asyncio.run(asyncio.wait_for(workspace.check(self.connection_name), CHECK_TIMEOUT))
        except Exception as exc:  # shown, not raised: this is diagnosis
            result = CheckResult(Health.UNREACHABLE, str(exc) or type(exc).__name__)
        if result.ok:
            return _("Verbonden"), _("Verbonden")
        state = (
            _("Opgeslagen, maar geweigerd")
            if result.health is Health.AUTH_FAILED
            else _("Opgeslagen, maar niet bereikbaar")
        )
        status = f"[$error]{state}:[/] {escape(result.reason)}"
        if result.advice:
            status += "\n" + _("Wat te doen") + ": " + escape(result.advice)
        return state, status

    def _show_state(self, state: str, status: str, connected: bool) -> None:
        if self.connected:  # a save finished meanwhile: that is the truth now
            return
        self.sub_title = f"{self.connection_name} — {Text.from_markup(state).plain}"
        self.disconnectable = connected and not self.koppelaar.read_only
        self.query_one("#disconnect").display = self.disconnectable and isinstance(self.question, AskFields)
        if not self.busy and isinstance(self.question, AskFields):
            self._status(status)

    # -- rendering a question -----------------------------------------------------------------------

    def _show(self, question: Question) -> None:
        self.query_one(ContentSwitcher).current = STEP_OF[type(question)]
        asking = isinstance(question, AskFields)
        self.query_one("#restart").display = self.runner.authorises and not asking
        self.query_one("#disconnect").display = asking and self.disconnectable
        button = self.query_one("#connect", Button)
        if isinstance(question, AskFields):
            self._texts(question.title, question.intro, question.where)
            button.label = _("Opnieuw verbinden") if self.connected else _say(question.action)
            self.query_one("#step-ask Input", Input).focus()
        elif isinstance(question, OpenUrl):
            self._show_url(question)
        elif isinstance(question, Choose):
            self._show_choice(question)
        self.refresh_bindings()

    def _texts(self, title: Words, text: Words, hint: Words | None, extra: str = "") -> None:
        self._status(_say(title), "#connect-title")
        self._say_or_hide((_say(text) if text.template else "") + extra, "#connect-text")
        self._say_or_hide(_say(hint) if hint is not None and hint.template else "", "#connect-hint")

    def _say_or_hide(self, markup: str, widget: str) -> None:
        """No empty line where a step has nothing to say."""
        self._status(markup, widget)
        self.query_one(widget).display = bool(markup)

    def _show_url(self, question: OpenUrl) -> None:
        self._status(_("Autoriseer applicatie"), "#connect-title")
        self._say_or_hide(
            _(
                "Open deze URL in een browser (Ctrl+Y kopieert hem), log in met een account dat "
                "toegang heeft tot de administratie en kies Toestaan (Allow):"
            ),
            "#connect-text",
        )
        self._say_or_hide("", "#connect-hint")
        self.query_one("#authorise-url", TextArea).load_text(question.url)
        pasted = self.query_one("#authorise-pasted", Input)
        pasted.value = ""
        pasted.focus()
        self.query_one("#connect", Button).label = _("Verder")
        self.sub_title = f"{self.connection_name} — " + _("Wacht op autorisatie")
        self._status(
            "[$warning]" + _("Wacht op autorisatie") + "…[/] " + _("een code is ongeveer 3 minuten geldig.")
        )
        self._listen(question)

    def _show_choice(self, question: Choose) -> None:
        if self.runner.authorises:
            self.sub_title = (
                f"{self.connection_name} — " + _("Geautoriseerd") + ", " + _("nog niet opgeslagen")
            )
        where = [f"{question.number[0]}/{question.number[1]}"] if question.number else []
        if question.current:
            where.append(f"{_('huidig')}: {escape(question.current)}")
        self._texts(question.title, question.text, question.hint, "\n" + " · ".join(where) if where else "")
        self.query_one("#connect", Button).label = _("OK")
        search = self.query_one("#choose-filter", Input)
        with search.prevent(Input.Changed):
            search.value = ""
        self._fill(question, "")
        # Typing searches straight away: a code typed and Enter takes that account.
        search.focus()

    def _fill(self, question: Choose, text: str) -> None:
        options = self.query_one("#choose-options", OptionList)
        options.clear_options()
        wanted = [(code, name) for code, name in question.options if _matches(text, code, name)]
        for code, name in wanted:
            mark = f"  ({_('huidig')})" if code == question.current else ""
            # A short code first, as the vendor lists them; a long id (a GUID) after the name.
            prompt = f"{code:<8} {name}" if len(code) <= 8 else f"{name}  {code}"
            options.add_option(Option(Text(prompt + mark), id=code))
        _highlight(options, question.current)
        self._status("" if wanted else _("Niets gevonden voor") + f" '{escape(text)}'.")

    @on(Input.Changed, "#choose-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if event.value.startswith("/"):
            # '/' is how other lists here start a search; no code or name starts with it.
            event.input.value = event.value[1:]
            return
        if isinstance(self.question, Choose):
            self._fill(self.question, event.value)

    @on(Input.Submitted, "#choose-filter")
    def _filter_submitted(self) -> None:
        self.action_connect()

    def action_move(self, step: int) -> None:
        if not isinstance(self.question, Choose):
            return
        options = self.query_one("#choose-options", OptionList)
        if step > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    # -- answering ----------------------------------------------------------------------------------

    @on(Input.Submitted, "#step-ask Input")
    def _next_field(self, event: Input.Submitted) -> None:
        inputs = list(self.query("#step-ask Input").results(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self.action_connect()

    @on(Input.Submitted, "#authorise-pasted")
    def _pasted(self) -> None:
        self.action_connect()

    @on(OptionList.OptionSelected, "#choose-options")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_id is not None:
            self._answer(event.option_id)

    def action_connect(self) -> None:
        """Send the answer to the question on screen (the primary button, or Enter)."""
        question = self.question
        if isinstance(question, AskFields):
            self._answer({f.key: self.query_one(f"#field-{f.key}", Input).value for f in question.fields})
        elif isinstance(question, OpenUrl):
            self._answer(self.query_one("#authorise-pasted", Input).value)
        elif isinstance(question, Choose):
            code = _option_id(self.query_one("#choose-options", OptionList))
            if code is None:
                self.notify(_("Kies eerst een van de opties."), severity="warning")
                return
            self._answer(code)
        else:  # connected: connect again from the first question
            self._show(self.runner.restart())

    def _answer(self, answer: str | Mapping[str, str]) -> None:
        if self.busy:
            return
        question = self.question
        self._busy(True)
        self.saving = self.runner.may_save
        working = question.working if isinstance(question, AskFields | OpenUrl | Choose) else None
        self._status(_say(working) if working is not None else _("Opslaan…") if self.saving else "")
        self._send(question, answer)

    @work(thread=True, exclusive=True, group="connect")
    def _send(self, question: Question, answer: str | Mapping[str, str]) -> None:
        # A thread with its own event loop: the vendor's answer, a slow keyring and the save never
        # freeze the console.
        async def send() -> Question:
            return await asyncio.wait_for(self.runner.answer(answer), timeout=CHECK_TIMEOUT)

        try:
            following = asyncio.run(send())
            if isinstance(following, Connected) and following.saved:
                self.koppelaar.workspace.reload()
        except StepFailed as exc:
            self.app.call_from_thread(self._failed, question, exc)
            return
        except Exception as exc:  # network trouble, a refused file: shown as the reason
            self.app.call_from_thread(self._failed, question, StepFailed(str(exc) or type(exc).__name__))
            return
        finally:
            self.saving = False
        self.app.call_from_thread(self._answered, following)

    def _failed(self, question: Question, exc: StepFailed) -> None:
        if not self.is_attached or question is not self.question:
            return  # closed or restarted meanwhile
        self._busy(False)
        refused = _("Niet geautoriseerd") if self.runner.authorises else _("Niet verbonden")
        lines = ["[$error]" + refused + ":[/] " + escape(exc.message)]
        if exc.advice:
            lines.append(_("Wat te doen") + ": " + escape(exc.advice))
        self._status("\n".join(lines))

    def _answered(self, following: Question) -> None:
        if not self.is_attached or following is not self.question:
            return
        self._busy(False)
        if not isinstance(following, OpenUrl):
            self._stop_listening()
        if isinstance(following, Connected):
            self._connected(following)
        else:
            self._show(following)

    def _connected(self, done: Connected) -> None:
        self.runner.restart()  # connecting again starts from the first question
        self._show(self.question)
        if not done.saved:
            what = (
                _("Alleen-lezen: de autorisatie is gecontroleerd maar niet opgeslagen.")
                if done.authorised
                else _("Alleen-lezen: de verbinding is gecontroleerd maar niet opgeslagen.")
            )
            self._status("[$warning]" + what + "[/]")
            self.notify(_("Alleen-lezen: er is niets opgeslagen."), severity="warning")
            return
        self.connected = True
        # Typed secrets leave the screen as soon as they are stored.
        for field in self.query("#step-ask Input").results(Input):
            if field.password:
                field.value = ""
        self.sub_title = f"{self.connection_name} — " + _("Verbonden")
        headline = f"[$success]{_('Verbonden')}[/]: {escape(self.connection_name)}."
        if done.authorised:
            headline += " " + _("Access token aangemaakt.")
        summary = [headline, *(f"{_say(what)}: {escape(code)}" for what, code in done.choices)]
        self._status("\n".join(summary))
        self.query_one("#connect", Button).label = (
            _("Opnieuw autoriseren") if self.runner.authorises else _("Opnieuw verbinden")
        )
        self.disconnectable = True
        self.query_one("#disconnect").display = True
        self.query_one("#close", Button).focus()
        self.notify(f"{self.connection_name}: {_('Verbonden')}", title=self.runner.vendor)

    # -- the loopback listener ----------------------------------------------------------------------

    @work(exclusive=True, group="oauth-listen", exit_on_error=False)
    async def _listen(self, question: OpenUrl) -> None:
        """When the redirect URI is a loopback address, catch the browser's arrival there. (exclusive:
        a restarted authorization cancels the previous listener, whose `finally` closes its port.)"""
        listener = await open_listener(question.redirect_uri)
        if listener is None:
            return
        self.listener = listener
        self._status(
            "[$warning]"
            + _("Wacht op autorisatie")
            + "…[/] "
            + _(
                "de browser mag ook terugkeren naar {url} (over SSH: ssh -L {port}:127.0.0.1:{port} …)."
            ).format(url=escape(listener.url), port=listener.port)
        )
        try:
            caught = await listener.wait(timeout=3600)
        finally:
            await listener.close()
        if caught and self.question is question and not self.busy:
            self.query_one("#authorise-pasted", Input).value = caught
            self.action_connect()

    def _stop_listening(self) -> None:
        self.workers.cancel_group(self, "oauth-listen")
        self.listener = None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Ctrl+Y (copy the URL) only while a URL is on screen."""
        return isinstance(self.question, OpenUrl) if action == "copy_url" else True

    def action_copy_url(self) -> None:
        question = self.question
        if isinstance(question, OpenUrl):
            self.app.copy_to_clipboard(question.url)
            self.notify(_("URL gekopieerd (als de terminal dat toestaat)."))

    # -- closing, restarting, disconnecting ---------------------------------------------------------

    def action_close(self) -> None:
        if self.saving:
            self.notify(_("Bezig met opslaan…"), severity="warning")
            return
        # Nothing is written before the last step, so closing earlier leaves everything untouched.
        self._stop_listening()
        self.dismiss(self.connected)

    def action_filter(self) -> None:
        if isinstance(self.question, Choose):
            self.query_one("#choose-filter", Input).focus()

    def action_restart(self) -> None:
        if self.busy:  # the answer under way belongs to this attempt: let it finish first
            return
        self._stop_listening()
        self._status("")
        self._show(self.runner.restart())

    def action_disconnect(self) -> None:
        def done() -> None:
            self.disconnectable = False
            self.query_one("#disconnect").display = False
            self.connected = False
            self.sub_title = f"{self.connection_name} — " + _("Niet verbonden")
            self._status(_("Niet verbonden"))

        confirm_disconnect(self.app, self.connection_name, done)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button = event.button.id or ""
        if button == "connect":
            self.action_connect()
        elif button == "restart":
            self.action_restart()
        elif button == "close":
            self.action_close()
        elif button == "disconnect":
            self.action_disconnect()


def _matches(text: str, *fields: str) -> bool:
    needle = text.strip().lower()
    return not needle or any(needle in value.lower() for value in fields)


def _highlight(options: OptionList, wanted: str) -> None:
    """The proposed option; else the only one. Never the first of many: Enter would save a choice
    nobody made (0100 Inventaris as tegenrekening)."""
    for index in range(options.option_count):
        if options.get_option_at_index(index).id == wanted:
            options.highlighted = index
            return
    options.highlighted = 0 if options.option_count == 1 else None


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

    def closed(connected: bool | None) -> None:
        if on_done is not None:
            on_done(bool(connected))

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
