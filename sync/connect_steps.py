"""The connect-step runner: walks a connection's steps (its connector spec's `steps`) and says, at each,
what to ask as a typed question; takes the answer, does the checks and, after the last step, the saving.

The console's wizard and `koppelaar connect` only render the questions: fields to fill in, a URL to open
and paste back, a list to choose from, and the end. Nothing is stored before the last answer; closing
halfway leaves everything as it was. Nothing here prompts, prints or imports Textual; `answer` may block
(the secret store may be a keyring, the files are written): call it off a user interface's event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from pydantic import SecretStr

from connectors.registry import spec_for
from connectors.spec import AnySpec, OAuthSettings, Step
from state.secrets import SecretStore
from state.settings import Settings
from sync.connect import (
    Authorized,
    Candidate,
    Discovery,
    OAuthFailed,
    OAuthStart,
    TegenrekeningQuestion,
    Word,
    authorize,
    bookkeeping_choices,
    candidate,
    code_from_redirect,
    current_administratie,
    discover,
    save_connection,
    save_oauth,
    start_oauth,
)


@dataclass(frozen=True)
class Words:
    """A sentence for the admin: a Dutch template (the console's translation key) and its {values}."""

    template: str
    values: Mapping[str, str] = field(default_factory=dict)

    def render(self, translate: Callable[[str], str] = str, quote: Callable[[str], str] = str) -> str:
        """The sentence translated, with its values (quoted, e.g. escaped for markup) filled in."""
        text = translate(self.template)
        if not self.values:
            return text  # not a format string: braces in the vendor's words stay as they are
        return text.format(**{key: quote(value) for key, value in self.values.items()})


@dataclass(frozen=True)
class Field:
    """One value to type in."""

    key: str  # the login's or secret's key ("username", "api_token", "client_id", "country")
    label: Words
    value: str = ""  # what koppelaar.toml has now (never a secret)
    secret: bool = False
    keep: Words | None = None  # said next to a secret whose empty answer keeps the stored one
    choices: tuple[tuple[str, str], ...] = ()  # (code, name): the answer must be one of the codes


@dataclass(frozen=True)
class AskFields:
    """Fill in these fields; `answer` them as {key: text} (an empty secret keeps the stored one)."""

    title: Words
    intro: Words
    where: Words  # where the admin finds the values in the vendor's own screens
    fields: tuple[Field, ...]
    action: Words  # what sending them does (the button)
    working: Words  # what happens while they are checked


@dataclass(frozen=True)
class OpenUrl:
    """Open `url` in any browser, allow access, and `answer` with the address the browser lands on (or
    just the code). When `redirect_uri` is on this machine, `sync.connect.open_listener` can catch that
    address by itself; pasting always works."""

    url: str
    redirect_uri: str
    working: Words


@dataclass(frozen=True)
class Choose:
    """Choose one of `options` (code, name); `answer` with its code. `current` is what to propose."""

    key: str  # "administratie", "verkoopboek", "inkoopboek" or "<koppeling>:<verkoop|inkoop>"
    title: Words
    text: Words
    options: tuple[tuple[str, str], ...]
    current: str
    hint: Words | None = None  # where the vendor shows these (its chart of accounts)
    number: tuple[int, int] | None = None  # (n, of): the n-th of a run of the same question
    working: Words | None = None  # what happens after the answer, when it takes a round trip


@dataclass(frozen=True)
class Connected:
    """The end. `saved` is False in read-only mode: everything was checked, nothing was stored."""

    saved: bool
    authorised: bool  # an access token was made (and, when saved, stored in the token vault)
    choices: tuple[tuple[Words, str], ...]  # what was chosen: (what, code and name)


Question = AskFields | OpenUrl | Choose | Connected


class StepFailed(Exception):
    """The answer did not work; nothing is stored. The question stays: answer it again (`again`), or,
    when the attempt itself is spent (an authorization code used up), start over."""

    def __init__(self, message: str, advice: str = "", *, again: bool = True) -> None:
        super().__init__(message)
        self.message, self.advice, self.again = message, advice, again

    def __str__(self) -> str:
        return f"{self.message}. {self.advice}" if self.advice else self.message


@dataclass(frozen=True)
class Place:
    """Where a connection is saved: koppelaar.toml, the database, the secret store, who does it."""

    settings: Settings
    config: Path
    database: Path
    secrets: SecretStore
    actor: str
    read_only: bool = False  # check everything, store nothing


class ConnectRunner:
    """One connection's connect steps, walked one question at a time."""

    def __init__(self, place: Place, name: str) -> None:
        self.place, self.name = place, name
        self.connection = place.settings.connections[name]
        self.spec: AnySpec = spec_for(self.connection.system)
        if Step.AUTHORISE in self.spec.steps and self.spec.oauth is None:
            raise ValueError(f"{self.spec.label}: autoriseren zonder OAuth-gegevens in de spec")
        self.vendor = self.spec.label
        self._restart()

    def _restart(self) -> None:
        self._candidate: Candidate | None = None
        self._found: Discovery | None = None
        self._start: OAuthStart | None = None
        self._authorized: Authorized | None = None
        self._ahead: list[Choose] = []
        self.answers: dict[str, str] = {}
        self.question: Question = self._ask()

    def restart(self) -> Question:
        """Back to the first question; what was answered is forgotten (nothing was stored)."""
        self._restart()
        return self.question

    @property
    def authorises(self) -> bool:
        return Step.AUTHORISE in self.spec.steps

    @property
    def may_save(self) -> bool:
        """The answer to the current question may be the last: when it works, it is saved."""
        question = self.question
        if isinstance(question, Choose):
            return question.key == "administratie" or not self._ahead
        if isinstance(question, AskFields):
            return not self.authorises and Step.ADMINISTRATIE not in self.spec.steps
        return False

    def _words(self, template: str, **values: str) -> Words:
        return Words(template, {"vendor": self.vendor, **values})

    def stored_secrets(self) -> frozenset[str]:
        """The fields whose secret is stored (blocking: the secret store may be a keyring)."""
        keys = (f.key for f in self.spec.secrets(self.connection))
        return frozenset(key for key in keys if self.place.secrets.get(f"{self.name}:{key}") is not None)

    # -- the questions ------------------------------------------------------------------------------

    def _ask(self) -> AskFields:
        if self.authorises:
            return self._ask_app()
        fields: list[Field] = []
        login = self.spec.login(self.connection)
        if login is not None:
            fields.append(Field(login.key, Words(login.label), str(getattr(self.connection, login.key))))
        fields.extend(
            Field(secret.key, Words(secret.label), secret=True)
            for secret in self.spec.secrets(self.connection)
        )
        return AskFields(
            self._words("Maak verbinding met {vendor}"),
            Words(self.spec.intro),
            Words(self.spec.where(self.connection)),
            tuple(fields),
            self._words("Maak verbinding met {vendor}"),
            self._words("Verbinden met {vendor}…"),
        )

    def _ask_app(self) -> AskFields:
        oauth = self.spec.oauth
        assert oauth is not None
        connection = cast(OAuthSettings, self.connection)
        fields = [
            Field("client_id", Words("Client ID"), connection.client_id),
            *(
                Field(
                    secret.key, Words(secret.label), secret=True, keep=Words("het opgeslagen secret houden")
                )
                for secret in self.spec.secrets(connection)
            ),
        ]
        if oauth.countries:
            codes = " of ".join(code for code, _name in oauth.countries)
            configured = str(getattr(connection, "country", ""))
            fields.append(
                Field(
                    "country", Words("Land ({codes})", {"codes": codes}), configured, choices=oauth.countries
                )
            )
        return AskFields(
            self._words("Autoriseer {vendor}"),
            Words(""),
            Words(oauth.where),
            tuple(fields),
            Words("Autoriseer applicatie"),
            self._words("Autoriseren bij {vendor}…"),
        )

    def _choose_administratie(self, options: list[tuple[str, str]], current: str, reason: str) -> Choose:
        label = self.spec.oauth.administratie_label if self.spec.oauth is not None else ""
        text = self._words("Selecteer de administratie in {vendor} die u wilt koppelen.")
        if reason:  # what the vendor said when it let us in
            text = self._words(
                "{reason}. Selecteer de administratie in {vendor} die u wilt koppelen.", reason=reason
            )
        working = None
        if Step.DAGBOEKEN in self.spec.steps:
            working = Words("Dagboeken en grootboekrekeningen ophalen…")
        return Choose(
            "administratie",
            Words(f"{label} (administratie)" if label else "Administratie"),
            text,
            tuple(options),
            current,
            working=working,
        )

    def _choose_journals(
        self, sales: list[tuple[str, str]], purchase: list[tuple[str, str]], current: tuple[str, str]
    ) -> list[Choose]:
        journals = [
            Choose(
                "verkoopboek",
                Words("Verkoopboek"),
                Words("Het dagboek voor de verkoopfacturen."),
                tuple(sales),
                current[0],
            ),
            Choose(
                "inkoopboek",
                Words("Inkoopboek"),
                Words("Het dagboek voor de inkoopfacturen."),
                tuple(purchase),
                current[1],
            ),
        ]
        # A vendor without dagboeken of a kind books without one: nothing to ask.
        return [journal for journal in journals if journal.options]

    def _choose_tegenrekeningen(
        self, picks: list[TegenrekeningQuestion], ledgers: list[tuple[str, str]]
    ) -> list[Choose]:
        if not ledgers:
            return []  # nothing to choose from: the configured tegenrekeningen stay
        hint = Words(self.spec.ledger_hint) if self.spec.ledger_hint else None
        return [
            Choose(
                f"{pick.koppeling}:{pick.word}",
                Words(f"Tegenrekening {pick.word}facturen ({{koppeling}})", {"koppeling": pick.koppeling}),
                Words(
                    f"Kies de tegenrekening waarop u de {pick.word.capitalize()}facturen van koppeling "
                    "{koppeling} wilt boeken.",
                    {"koppeling": pick.koppeling},
                ),
                tuple(ledgers),
                pick.current or self._in_use(pick.word, {code for code, _name in ledgers}),
                hint,
                (index, len(picks)),
            )
            for index, pick in enumerate(picks, start=1)
        ]

    def _in_use(self, word: str, offered: set[str]) -> str:
        """For a koppeling without a tegenrekening of its own: the one another koppeling books this
        soort on in the same connection (a proposal; the admin still confirms it). '' when none."""
        for koppeling in self.place.settings.koppelingen.values():
            code = str(getattr(koppeling.mapping, f"tegenrekening_{word}"))
            if koppeling.target == self.name and code in offered:
                return code
        return ""

    # -- the answers --------------------------------------------------------------------------------

    async def answer(self, answer: str | Mapping[str, str]) -> Question:
        """Take the answer to the current question; returns the next one. Raises StepFailed (the
        question stays) when it does not work."""
        question = self.question
        if isinstance(question, AskFields):
            assert not isinstance(answer, str)
            self.question = await (self._app_typed(answer) if self.authorises else self._typed(answer))
        elif isinstance(question, OpenUrl):
            assert isinstance(answer, str)
            self.question = await self._pasted(answer)
        elif isinstance(question, Choose):
            assert isinstance(answer, str)
            self.question = await self._chosen(question, answer.strip())
        else:
            raise StepFailed("Verbinden is al klaar")
        return self.question

    async def _typed(self, typed: Mapping[str, str]) -> Question:
        login = self.spec.login(self.connection)
        username = typed.get(login.key, "") if login is not None else ""
        secrets = {
            secret.key: SecretStr(typed.get(secret.key, "").strip())
            for secret in self.spec.secrets(self.connection)
        }
        chosen = candidate(self.name, self.connection, username, secrets)
        if login is not None and not str(getattr(chosen.connection, login.key)).strip():
            raise StepFailed(f"{login.label} ontbreekt", f"Vul {login.label} in.")
        self._candidate = chosen
        if Step.CHECK not in self.spec.steps:
            return self._finish()
        found = await discover(self.place.settings, self.place.secrets, chosen)
        if not found.ok:
            raise StepFailed(found.check.reason, found.check.advice)
        self._found = found
        if Step.ADMINISTRATIE not in self.spec.steps:
            return self._finish()
        if not found.administraties:
            raise StepFailed(
                f"{self.vendor} levert geen administraties", "Controleer de toegang van deze gebruiker."
            )
        administraties = [(a.id, a.name) for a in found.administraties]
        return self._choose_administratie(administraties, chosen.connection.administratie_id, "")

    async def _app_typed(self, typed: Mapping[str, str]) -> Question:
        secret_key = next(iter(f.key for f in self.spec.secrets(self.connection)), "client_secret")
        try:
            self._start = start_oauth(
                self.name,
                self.connection,
                self.place.secrets,
                client_id=typed.get("client_id", ""),
                client_secret=SecretStr(typed.get(secret_key, "").strip()),
                country=typed.get("country", ""),
            )
        except OAuthFailed as exc:
            raise StepFailed(exc.message, exc.advice) from exc
        return OpenUrl(
            self._start.url, self._start.connection.redirect_uri, self._words("Autoriseren bij {vendor}…")
        )

    async def _pasted(self, pasted: str) -> Question:
        start = self._start
        assert start is not None
        try:
            code_from_redirect(start, pasted)  # a mis-paste: the URL stays valid, paste again
        except OAuthFailed as exc:
            raise StepFailed(exc.message, exc.advice) from exc
        try:
            authorized = await authorize(start, pasted)
        except OAuthFailed as exc:  # the code is spent: authorise again from the start
            raise StepFailed(exc.message, exc.advice, again=False) from exc
        self._authorized = authorized
        administraties = [(a.id, a.name) for a in authorized.administraties]
        return self._choose_administratie(
            administraties, current_administratie(authorized), authorized.reason
        )

    async def _chosen(self, question: Choose, code: str) -> Question:
        if not code and question.current:
            code = question.current
        if code not in {option for option, _name in question.options}:
            raise StepFailed(f"'{code}' staat niet in de lijst", "Kies een van de getoonde codes.")
        self.answers[question.key] = code
        if question.key == "administratie":
            self._ahead = await self._after_administratie(code)
        if self._ahead:
            return self._ahead.pop(0)
        return self._finish()

    async def _after_administratie(self, administratie: str) -> list[Choose]:
        ahead: list[Choose] = []
        if self._authorized is not None:
            try:
                choices = await bookkeeping_choices(self.place.settings, self._authorized, administratie)
            except OAuthFailed as exc:
                raise StepFailed(exc.message, exc.advice) from exc
            if Step.DAGBOEKEN in self.spec.steps:
                current = (choices.current_sales, choices.current_purchase)
                ahead += self._choose_journals(choices.sales_journals, choices.purchase_journals, current)
            picks, ledgers = choices.questions, choices.tegenrekeningen
        else:
            assert self._found is not None
            picks, ledgers = self._found.questions, self._found.tegenrekeningen
        if Step.TEGENREKENINGEN in self.spec.steps:
            ahead += self._choose_tegenrekeningen(picks, [(ledger.code, ledger.name) for ledger in ledgers])
        return ahead

    # -- the end ------------------------------------------------------------------------------------

    def _finish(self) -> Connected:
        tegenrekeningen: dict[tuple[str, Word], str] = {}
        for key, code in self.answers.items():
            koppeling, _sep, word = key.rpartition(":")
            if koppeling and word in ("verkoop", "inkoop"):
                tegenrekeningen[(koppeling, cast(Word, word))] = code
        if not self.place.read_only:
            self._save(tegenrekeningen)
        return Connected(not self.place.read_only, self._authorized is not None, self._summary())

    def _save(self, tegenrekeningen: dict[tuple[str, Word], str]) -> None:
        place = self.place
        if self._authorized is not None:
            save_oauth(
                place.config,
                place.database,
                place.secrets,
                self._authorized,
                actor=place.actor,
                administratie=self.answers["administratie"],
                verkoopboek=self.answers.get("verkoopboek"),
                inkoopboek=self.answers.get("inkoopboek"),
                tegenrekeningen=tegenrekeningen,
            )
            return
        assert self._candidate is not None
        save_connection(
            place.config,
            place.database,
            place.secrets,
            self._candidate,
            actor=place.actor,
            administratie=self.answers.get("administratie"),
            tegenrekeningen=tegenrekeningen or None,
        )

    def _summary(self) -> tuple[tuple[Words, str], ...]:
        names: dict[str, str] = {}
        if self._found is not None:
            names = {a.id: a.name for a in self._found.administraties}
        elif self._authorized is not None:
            names = {a.id: a.name for a in self._authorized.administraties}
        lines: list[tuple[Words, str]] = []
        for key, code in self.answers.items():
            if key == "administratie":
                name = names.get(code, "")
                lines.append((Words("Administratie"), f"{code} {name}".strip()))
            elif key in ("verkoopboek", "inkoopboek"):
                lines.append((Words(key.capitalize()), code))
            else:
                koppeling, _sep, word = key.rpartition(":")
                label = Words(f"Tegenrekening {word}facturen ({{koppeling}})", {"koppeling": koppeling})
                lines.append((label, code))
        return tuple(lines)
