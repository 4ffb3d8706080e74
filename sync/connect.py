"""Connecting a connection, without a user interface: what to ask, checking candidate credentials against
the vendor before anything is stored, what to choose from, and saving the result.

`koppelaar connect` (prompts on the terminal) and the console's connect wizard both drive these steps, so
they validate, choose and save the same way. Nothing here prompts, prints or imports Textual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from connectors.contract import CheckResult, Health
from connectors.model import Administratie, LedgerAccount
from state.config import ConfigFile
from state.secrets import SecretStore
from state.settings import Connection, EBoekhoudenConnection, FactuurSturenConnection, Settings
from state.store import Store
from sync.service import NotConnected, build_source, build_target, secret_fields

SECRET_LABELS = {
    "api_key": "API-sleutel",
    "api_token": "API-token",
    "beveiligingscode_1": "Beveiligingscode 1",
    "beveiligingscode_2": "Beveiligingscode 2",
    "client_secret": "Client secret",
}

# Where the admin finds the credentials in the vendor's own screens, in the vendor's words.
_WHERE_SOAP = "U vindt ze in e-Boekhouden.nl via Beheer > Instellingen > Koppelingen > API/SOAP."
_WHERE_REST = "Maak een API-token aan in e-Boekhouden.nl via Beheer → Inrichting → Koppelingen → API."
_WHERE_FS = (
    'Maak een API-sleutel aan in FactuurSturen.nl via Instellingen → Verbindingen → "Maak API sleutel".'
)

# Balance-sheet categories a sales or purchase line must never be booked on.
_NOT_A_TEGENREKENING = ("DEB", "CRED", "FIN")

Word = Literal["verkoop", "inkoop"]


class PendingSecrets:
    """The real secret store plus not-yet-saved values: connectors are built with the candidate
    credentials so they are validated before anything is stored."""

    def __init__(self, store: SecretStore, pending: dict[str, SecretStr]) -> None:
        self._store, self._pending = store, pending

    def get(self, name: str) -> SecretStr | None:
        return self._pending.get(name) or self._store.get(name)

    def set(self, name: str, value: SecretStr) -> None:
        self._pending[name] = value

    def delete(self, name: str) -> None:
        self._pending.pop(name, None)

    def describe(self) -> str:
        return self._store.describe()


@dataclass(frozen=True)
class CredentialField:
    key: str  # "username", or a secret field such as "beveiligingscode_1"
    label: str
    secret: bool


def supports(connection: Connection) -> bool:
    """Connections connected by typing credentials. OAuth systems (Exact, Twinfield) authorise in the
    browser instead and have their own flow."""
    return isinstance(connection, FactuurSturenConnection | EBoekhoudenConnection)


def asks_username(connection: Connection) -> bool:
    """The REST API token alone identifies the e-Boekhouden user; FactuurSturen and SOAP have a login."""
    if isinstance(connection, EBoekhoudenConnection):
        return connection.api != "rest"
    return isinstance(connection, FactuurSturenConnection)


def credential_fields(connection: Connection) -> list[CredentialField]:
    """What to ask, in the order the vendor's own connect dialog asks it."""
    fields = []
    if asks_username(connection):
        label = "Gebruikersnaam" if isinstance(connection, EBoekhoudenConnection) else "Loginnaam"
        fields.append(CredentialField("username", label, secret=False))
    fields.extend(CredentialField(f, SECRET_LABELS.get(f, f), secret=True) for f in secret_fields(connection))
    return fields


def vendor_name(connection: Connection) -> str:
    names = {"eboekhouden": "e-Boekhouden.nl", "factuursturen": "FactuurSturen.nl", "exact": "Exact Online"}
    return names.get(connection.system, connection.system.capitalize())


def where_to_find(connection: Connection) -> str:
    if isinstance(connection, FactuurSturenConnection):
        return _WHERE_FS
    if isinstance(connection, EBoekhoudenConnection):
        return _WHERE_REST if connection.api == "rest" else _WHERE_SOAP
    return ""


@dataclass(frozen=True)
class Candidate:
    """Credentials typed in but not yet saved: the connection with the new username, and the secrets."""

    name: str
    connection: Connection
    secrets: dict[str, SecretStr]  # by field, e.g. {"beveiligingscode_1": SecretStr(...)}

    def __repr__(self) -> str:  # never the secrets, not even masked lengths
        return f"Candidate({self.name!r}, fields={sorted(self.secrets)})"

    @property
    def pending(self) -> dict[str, SecretStr]:
        return {f"{self.name}:{key}": value for key, value in self.secrets.items()}


def candidate(name: str, connection: Connection, username: str, secrets: dict[str, SecretStr]) -> Candidate:
    """The connection as typed in. A secret left empty keeps the stored one (when there is one): after
    a password change only Beveiligingscode 1 needs retyping."""
    if isinstance(connection, FactuurSturenConnection | EBoekhoudenConnection) and asks_username(connection):
        connection = connection.model_copy(update={"username": username.strip() or connection.username})
    typed = {f: secrets[f] for f in secret_fields(connection) if secrets.get(f)}
    return Candidate(name, connection, typed)


@dataclass(frozen=True)
class TegenrekeningQuestion:
    """One tegenrekening to choose: for the sales or purchase invoices of one koppeling."""

    koppeling: str
    word: Word
    current: str

    @property
    def label(self) -> str:
        return f"Tegenrekening {self.word}facturen ({self.koppeling})"

    @property
    def key(self) -> tuple[str, Word]:
        return (self.koppeling, self.word)


@dataclass(frozen=True)
class Discovery:
    """What the vendor said about candidate credentials, and (when they work) what there is to choose."""

    check: CheckResult
    administraties: list[Administratie] = field(default_factory=list)
    tegenrekeningen: list[LedgerAccount] = field(default_factory=list)  # ledger accounts fit to book on
    questions: list[TegenrekeningQuestion] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.check.ok


def tegenrekening_questions(settings: Settings, connection: str) -> list[TegenrekeningQuestion]:
    """For every koppeling that books into this connection: its sales and purchase tegenrekening."""
    questions = []
    for kop_name, koppeling in settings.koppelingen.items():
        if koppeling.target != connection:
            continue
        questions.append(TegenrekeningQuestion(kop_name, "verkoop", koppeling.mapping.tegenrekening_verkoop))
        questions.append(TegenrekeningQuestion(kop_name, "inkoop", koppeling.mapping.tegenrekening_inkoop))
    return questions


async def discover(settings: Settings, secrets: SecretStore, chosen: Candidate) -> Discovery:
    """Check the candidate credentials against the vendor; when they work, fetch the choices.

    Nothing is stored: the connector reads the candidate secrets through a PendingSecrets overlay.
    """
    overlay = PendingSecrets(secrets, dict(chosen.pending))
    connection = chosen.connection
    try:
        if isinstance(connection, FactuurSturenConnection):
            source = build_source(chosen.name, connection, overlay)
        else:
            target = build_target(chosen.name, connection, overlay)
    except NotConnected as exc:
        # Left empty, and nothing stored to keep: say which one to fill in.
        label = SECRET_LABELS.get(exc.field, exc.field)
        return Discovery(CheckResult(Health.AUTH_FAILED, f"{label} ontbreekt", f"Vul {label} in."))
    if isinstance(connection, FactuurSturenConnection):
        try:
            return Discovery(await source.check())
        finally:
            await source.aclose()
    try:
        check = await target.check()
        if not check.ok:
            return Discovery(check)
        administraties = await target.administraties()
        # The chart of accounts belongs to the login, not to the administratie picked next: fetch it now,
        # so choosing needs no further round trips.
        ledgers = await target.ledger_accounts()
    finally:
        await target.aclose()
    options = [ledger for ledger in ledgers if ledger.category not in _NOT_A_TEGENREKENING]
    return Discovery(check, administraties, options, tegenrekening_questions(settings, chosen.name))


def unreachable(exc: Exception) -> Discovery:
    """A failure while checking (network, timeout) as a Discovery the caller can show like any other."""
    return Discovery(CheckResult(Health.UNREACHABLE, str(exc) or type(exc).__name__))


def save_connection(
    config_path: Path,
    database: Path,
    secrets: SecretStore,
    chosen: Candidate,
    *,
    actor: str,
    administratie: str | None = None,
    tegenrekeningen: dict[tuple[str, Word], str] | None = None,
) -> None:
    """Store the secrets, write username/administratie/tegenrekeningen into koppelaar.toml (comments
    kept) and add an audit entry. Call only after `discover` said the credentials work."""
    config = ConfigFile.open(config_path)
    connection = chosen.connection
    if isinstance(connection, FactuurSturenConnection | EBoekhoudenConnection) and asks_username(connection):
        config.set(("connections", chosen.name, "username"), connection.username)
    if administratie is not None:
        config.set(("connections", chosen.name, "administratie"), administratie)
    for (kop_name, word), code in (tegenrekeningen or {}).items():
        config.set(("koppelingen", kop_name, "mapping", f"tegenrekening_{word}"), code)
    # Validate before storing secrets: a file that would be refused must not leave half a connection.
    config.settings()
    for key, value in chosen.pending.items():
        secrets.set(key, value)
    config.save()
    store = Store(database)
    try:
        detail: dict[str, object] = {"connection": chosen.name}
        if administratie is not None:
            detail["administratie"] = administratie
        if tegenrekeningen:
            detail["tegenrekeningen"] = {f"{k}.{w}": code for (k, w), code in tegenrekeningen.items()}
        store.audit(actor, "connect", detail=detail)
        store.forget_health(chosen.name)
    finally:
        store.close()


def disconnect(
    name: str, connection: Connection, database: Path, secrets: SecretStore, *, actor: str
) -> None:
    """Wipe the connection's secrets: every koppeling using it stops until it is connected again."""
    for secret in secret_fields(connection):
        secrets.delete(f"{name}:{secret}")
    store = Store(database)
    try:
        store.forget_health(name)
        store.audit(actor, "disconnect", detail={"connection": name})
    finally:
        store.close()
