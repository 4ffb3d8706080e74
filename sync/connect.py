"""Connecting a connection, without a user interface: what to ask, checking candidate credentials against
the vendor before anything is stored, what to choose from, and saving the result.

`koppelaar connect` (prompts on the terminal) and the console's connect wizard both drive these steps, so
they validate, choose and save the same way. Nothing here prompts, prints or imports Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_urlsafe
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr

from connectors.contract import BookingTarget, CheckResult, Health
from connectors.errors import AuthError, ConnectorError
from connectors.model import Administratie, InvoiceKind, LedgerAccount
from connectors.oauth import InvalidGrant, TokenResponse
from connectors.oauth import code_from_redirect as oauth_code_from_redirect
from connectors.registry import spec_for
from connectors.spec import OAuthSettings, OAuthSpec, Step
from state.config import ConfigFile
from state.secrets import SecretStore
from state.settings import Connection, Settings
from state.store import Store
from state.tokens import TokenVault, vault_key
from sync.service import NotConnected, build_connector, oauth_client, secret_fields, uses_oauth

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


def supports(connection: Connection) -> bool:
    """The connection has connect steps: the console's wizard and `koppelaar connect` can connect it."""
    return bool(spec_for(connection.system).steps)


def secret_label(connection: Connection, key: str) -> str:
    return next((f.label for f in spec_for(connection.system).secrets(connection) if f.key == key), key)


def vendor_name(connection: Connection) -> str:
    return spec_for(connection.system).label


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
    login = spec_for(connection.system).login(connection)
    if login is not None:
        typed_login = username.strip() or str(getattr(connection, login.key))
        connection = connection.model_copy(update={login.key: typed_login})
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
    spec = spec_for(connection.system)
    try:
        connector = build_connector(chosen.name, connection, overlay)
    except NotConnected as exc:
        # Left empty, and nothing stored to keep: say which one to fill in.
        label = secret_label(connection, exc.field)
        return Discovery(CheckResult(Health.AUTH_FAILED, f"{label} ontbreekt", f"Vul {label} in."))
    try:
        check = await connector.check()
        if not check.ok or Step.ADMINISTRATIE not in spec.steps:
            return Discovery(check)
        target = cast(BookingTarget, connector)
        administraties = await target.administraties()
        # The chart of accounts belongs to the login, not to the administratie picked next: fetch it now,
        # so choosing needs no further round trips.
        ledgers = await target.ledger_accounts()
    finally:
        await connector.aclose()
    options = [ledger for ledger in ledgers if ledger.tegenrekening]
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
    login = spec_for(connection.system).login(connection)
    if login is not None:
        config.set(("connections", chosen.name, login.key), getattr(connection, login.key))
    if administratie is not None:
        for key, setting in connection.administratie_update(administratie).items():
            config.set(("connections", chosen.name, key), setting)
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
    """Wipe the connection's secrets (and an OAuth connection's tokens): every koppeling using it stops
    until it is connected again."""
    for secret in secret_fields(connection):
        secrets.delete(f"{name}:{secret}")
    if uses_oauth(connection):
        forget_tokens(name, database, secrets)
    store = Store(database)
    try:
        store.forget_health(name)
        store.audit(actor, "disconnect", detail={"connection": name})
    finally:
        store.close()


# -- OAuth: "Autoriseer applicatie" in a browser -------------------------------------------------------
#
# The admin's browser is rarely on the machine Koppelaar runs on (SSH). So: print the authorization URL,
# the admin opens it anywhere, logs in with an account that has access to the administratie, chooses
# Toestaan/Allow, and pastes the address the browser ends up on (or just the code) back. When the browser
# *can* reach the machine (it runs there, or through `ssh -L PORT:127.0.0.1:PORT server`), a loopback
# listener on the redirect URI catches that address by itself. Pasting always works.
#
# Nothing is stored until the very end: the exchanged tokens are held in memory while the admin chooses
# the administratie, journals and tegenrekeningen, and written together with koppelaar.toml, the client
# secret and the audit entry. Closing halfway leaves the old authorization (if any) as it was.

CODE_LIFETIME = 180.0  # seconds: the vendors' authorization codes live ~3 minutes, and work once


class OAuthFailed(Exception):
    """Authorizing cannot continue; nothing has been saved. `advice` says what to do."""

    def __init__(self, message: str, advice: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice

    def __str__(self) -> str:
        return f"{self.message}. {self.advice}" if self.advice else self.message


def _oauth(connection: Connection) -> OAuthSpec[Any]:
    oauth = spec_for(connection.system).oauth
    if oauth is None:
        raise OAuthFailed(f"{vendor_name(connection)} wordt niet in de browser geautoriseerd")
    return oauth


def where_to_find_oauth(connection: Connection) -> str:
    return _oauth(connection).where


@dataclass(frozen=True)
class OAuthStart:
    """One authorization attempt: the URL to open and what the pasted answer must match."""

    name: str
    connection: OAuthSettings  # with the Client ID (and the country, where the vendor has one) as typed
    client_secret: SecretStr
    state: str
    nonce: str
    url: str
    started_at: float

    def __repr__(self) -> str:  # never the secret
        return f"OAuthStart({self.name!r}, {self.connection.system}, client_id={self.connection.client_id!r})"

    @property
    def vendor(self) -> str:
        return vendor_name(self.connection)

    @property
    def host(self) -> str:
        """Where the tokens are valid (a country's host, or the login host)."""
        return _oauth(self.connection).host(self.connection)

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) - self.started_at > CODE_LIFETIME


def start_oauth(
    name: str,
    connection: Connection,
    secrets: SecretStore,
    *,
    client_id: str = "",
    client_secret: SecretStr | None = None,
    country: str = "",
    clock: Callable[[], float] = time.time,
) -> OAuthStart:
    """Step 1: the authorization URL with a fresh random `state` (and `nonce`).

    An empty Client ID keeps the configured one; an empty Client secret the stored one. Where the vendor
    has a host per country, the country picks it: tokens of one host do not work on the other.
    """
    if not isinstance(connection, OAuthSettings):
        raise OAuthFailed(
            f"Verbinding '{name}' ({vendor_name(connection)}) wordt niet in de browser geautoriseerd"
        )
    update: dict[str, object] = {"client_id": client_id.strip() or connection.client_id}
    choices = _oauth(connection).countries
    if choices and country.strip():
        chosen = country.strip().upper()
        if chosen not in {code for code, _ in choices}:
            options = " of ".join(f"{code} ({label})" for code, label in choices)
            raise OAuthFailed(f"Land '{country}' onbekend", f"Kies {options}.")
        update["country"] = chosen
    connection = connection.model_copy(update=update)
    if not connection.client_id:
        raise OAuthFailed("Client ID ontbreekt", where_to_find_oauth(connection))
    if not connection.redirect_uri:
        raise OAuthFailed(
            "Redirect URI ontbreekt",
            f"Zet redirect_uri onder [connections.{name}] in koppelaar.toml, gelijk aan de Redirect URI van "
            "de app (bijvoorbeeld http://127.0.0.1:8765/callback).",
        )
    secret = client_secret if client_secret is not None and client_secret.get_secret_value().strip() else None
    secret = secret or secrets.get(f"{name}:client_secret")
    if secret is None or not secret.get_secret_value().strip():
        raise OAuthFailed("Client secret ontbreekt", where_to_find_oauth(connection))
    secret = SecretStr(secret.get_secret_value().strip())
    state = token_urlsafe(24)
    nonce = token_urlsafe(16)
    # The client is only asked for the URL: it opens no connection, so there is nothing to close.
    oauth = oauth_client(connection, secret)
    url = oauth.authorization_url(state, nonce)
    return OAuthStart(name, connection, secret, state, nonce, url, clock())


def code_from_redirect(start: OAuthStart, pasted: str) -> str:
    """Step 2: the authorization code from what the admin pasted (the redirect URL or just the code)."""
    try:
        return oauth_code_from_redirect(pasted, state=start.state, vendor=start.vendor)
    except AuthError as exc:
        raise OAuthFailed(exc.message, exc.advice) from exc


class _ExchangedTokens:
    """The freshly exchanged access token, for choosing before anything is stored (TokenProvider)."""

    def __init__(self, tokens: TokenResponse) -> None:
        self._tokens = tokens

    async def access_token(self, *, force: bool = False) -> SecretStr:
        if force:
            raise AuthError(
                "Het nieuwe toegangstoken werd geweigerd",
                advice="Start de autorisatie opnieuw (Autoriseer applicatie).",
            )
        return self._tokens.access_token


@dataclass
class Authorized:
    """A successful exchange, not yet stored: the tokens and what there is to choose from."""

    start: OAuthStart
    tokens: TokenResponse
    obtained_at: float
    administraties: list[Administratie]
    current: str  # the administratie the user works in, "" when the vendor does not say
    reason: str  # who authorised where, in the vendor's words

    def __repr__(self) -> str:
        return f"Authorized({self.start.name!r}, administraties={len(self.administraties)})"


@dataclass(frozen=True)
class BookkeepingChoices:
    """Per chosen administratie: journals to book in and the tegenrekeningen to choose."""

    administratie: str
    sales_journals: list[tuple[str, str]]  # (code, name)
    purchase_journals: list[tuple[str, str]]
    tegenrekeningen: list[LedgerAccount]
    questions: list[TegenrekeningQuestion]
    current_sales: str
    current_purchase: str


async def authorize(start: OAuthStart, pasted: str, *, clock: Callable[[], float] = time.time) -> Authorized:
    """Steps 2-3: read the pasted redirect, exchange the code, list the administraties (the vendor's
    divisions or offices). Raises OAuthFailed with a Dutch reason; stores nothing."""
    code = code_from_redirect(start, pasted)
    oauth = oauth_client(start.connection, start.client_secret)
    try:
        try:
            tokens = await oauth.exchange_code(code)
        except InvalidGrant as exc:
            late = " (meer dan 3 minuten na het starten)" if start.expired(clock()) else ""
            raise OAuthFailed(
                f"{start.vendor} weigert de autorisatiecode{late}: hij is verlopen of al gebruikt",
                "Een code is ongeveer 3 minuten geldig en één keer te gebruiken. Start de autorisatie "
                "opnieuw en plak het adres meteen na Toestaan.",
            ) from exc
        except ConnectorError as exc:
            raise OAuthFailed(exc.message, exc.advice) from exc
        obtained = clock()
        target = _discovery_target(start, tokens, administratie="")
        try:
            try:
                welcome = await _oauth(start.connection).welcome(target, start.connection)
            except ConnectorError as exc:
                raise OAuthFailed(exc.message, exc.advice) from exc
        finally:
            await target.aclose()
    finally:
        await oauth.aclose()
    administraties, current, reason = welcome.administraties, welcome.current, welcome.reason
    if not administraties:
        raise OAuthFailed(
            f"Dit {start.vendor}-account heeft geen administraties",
            "Autoriseer met een account dat toegang heeft tot de administratie die u wilt koppelen.",
        )
    return Authorized(start, tokens, obtained, administraties, current, reason)


def current_administratie(authorized: Authorized) -> str:
    """What to propose: the configured administratie when the account has it, else the current one."""
    configured = authorized.start.connection.administratie_id
    ids = {a.id for a in authorized.administraties}
    if configured in ids:
        return configured
    if authorized.current in ids:
        return authorized.current
    return authorized.administraties[0].id


async def bookkeeping_choices(
    settings: Settings, authorized: Authorized, administratie: str
) -> BookkeepingChoices:
    """Step 4: for the chosen administratie, its journals and its ledger accounts (tegenrekeningen)."""
    start = authorized.start
    if administratie not in {a.id for a in authorized.administraties}:
        raise OAuthFailed(
            f"Administratie {administratie} hoort niet bij dit account",
            f"Kies een van: {', '.join(a.id for a in authorized.administraties)}.",
        )
    target = _discovery_target(start, authorized.tokens, administratie=administratie)
    try:
        try:
            # The journals the target will book into: the same list the Mapping tab offers.
            journals = sorted(await target.journals(), key=lambda j: j.code)
            sales = [(j.code, j.name) for j in journals if j.kind is InvoiceKind.SALES]
            purchase = [(j.code, j.name) for j in journals if j.kind is InvoiceKind.PURCHASE]
            ledgers = await target.ledger_accounts()
        except ConnectorError as exc:
            raise OAuthFailed(exc.message, exc.advice) from exc
    finally:
        await target.aclose()
    connection = start.connection
    current_sales, current_purchase = connection.journal("verkoop"), connection.journal("inkoop")
    options = [ledger for ledger in ledgers if ledger.tegenrekening]
    # Propose the configured journal when this administratie has it, else its first one of the kind.
    if sales and current_sales not in {code for code, _ in sales}:
        current_sales = sales[0][0]
    if purchase and current_purchase not in {code for code, _ in purchase}:
        current_purchase = purchase[0][0]
    return BookkeepingChoices(
        administratie,
        sales,
        purchase,
        options,
        tegenrekening_questions(settings, start.name),
        current_sales,
        current_purchase,
    )


def save_oauth(
    config_path: Path,
    database: Path,
    secrets: SecretStore,
    authorized: Authorized,
    *,
    actor: str,
    administratie: str,
    verkoopboek: str | None = None,
    inkoopboek: str | None = None,
    tegenrekeningen: dict[tuple[str, Word], str] | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Step 5: Client ID, country, administratie and journals into koppelaar.toml (comments
    kept), the Client secret into the secret store, the tokens into the token vault, an audit entry."""
    start = authorized.start
    connection = start.connection
    name = start.name
    config = ConfigFile.open(config_path)
    base = ("connections", name)
    config.set((*base, "client_id"), connection.client_id)
    chosen = connection.administratie_update(administratie)
    for key, value in chosen.items():
        config.set((*base, key), value)
    for word, journal in (("verkoop", verkoopboek), ("inkoop", inkoopboek)):
        if journal:
            config.set((*base, connection.JOURNAL_KEYS[word]), journal)
    for (kop_name, word), code in (tegenrekeningen or {}).items():
        config.set(("koppelingen", kop_name, "mapping", f"tegenrekening_{word}"), code)
    config.settings()  # a file that would be refused must not leave half a connection
    secrets.set(f"{name}:client_secret", start.client_secret)
    # The access token has aged while the admin chose: store the life it has left, not a fresh one.
    left = max(1.0, authorized.tokens.expires_in - (clock() - authorized.obtained_at))
    tokens = TokenResponse(authorized.tokens.access_token, authorized.tokens.refresh_token, left)
    vault = TokenVault(database, vault_key(secrets), clock=clock)
    try:
        vault.store_initial(name, tokens, host=start.host, idle_expiry=_oauth(connection).refresh_idle_expiry)
    finally:
        vault.close()
    config.save()
    store = Store(database)
    try:
        detail: dict[str, object] = {
            "connection": name,
            "authorized": start.vendor,
            "client_id": connection.client_id,
            "administratie": administratie,
        }
        # What the vendor keeps next to the administratie (e.g. the country of its host).
        detail.update({key: value for key, value in chosen.items() if key != connection.ADMINISTRATIE_KEY})
        if verkoopboek or inkoopboek:
            detail["dagboeken"] = {"verkoop": verkoopboek or "", "inkoop": inkoopboek or ""}
        if tegenrekeningen:
            detail["tegenrekeningen"] = {f"{k}.{w}": code for (k, w), code in tegenrekeningen.items()}
        store.audit(actor, "connect", detail=detail)
        store.forget_health(name)
    finally:
        store.close()


def _discovery_target(start: OAuthStart, tokens: TokenResponse, *, administratie: str) -> BookingTarget:
    """A target on the exchanged tokens, to choose with before anything is stored."""
    connection = start.connection
    return _oauth(connection).discovery(
        connection, start.client_secret, _ExchangedTokens(tokens), administratie
    )


def forget_tokens(name: str, database: Path, secrets: SecretStore) -> None:
    """Disconnecting an OAuth connection: its tokens leave the vault too."""
    vault = TokenVault(database, vault_key(secrets))
    try:
        vault.forget(name)
    finally:
        vault.close()


# -- the loopback listener --------------------------------------------------------------------------------

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_PAGE = (
    "<!doctype html><html lang=nl><meta charset=utf-8><title>Koppelaar</title>"
    "<body style='font-family:sans-serif'><h1>Autorisatie ontvangen</h1>"
    "<p>Koppelaar heeft de autorisatie ontvangen. U kunt dit venster sluiten en verder gaan in Koppelaar."
    "</p></body></html>"
)


class LoopbackListener:
    """Catches the browser's redirect on 127.0.0.1: one answer with a `code` (or `error`), then it stops.

    Only useful when the admin's browser can reach this machine: a browser on the machine itself, or an
    SSH tunnel from the admin's computer, e.g. `ssh -L 8765:127.0.0.1:8765 beheer@server` for the
    redirect URI http://127.0.0.1:8765/callback. It listens on loopback only, so nothing outside the
    machine (or the tunnel) can reach it. Pasting the address always works as well.
    """

    def __init__(self, *, port: int = 0, path: str = "/", host: str = "127.0.0.1") -> None:
        self.host = host
        self.path = path or "/"
        self._port = port
        self._server: asyncio.Server | None = None
        self._caught: asyncio.Future[str] | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._netloc}{self.path}"

    @property
    def _netloc(self) -> str:
        return f"[{self.host}]:{self._port}" if ":" in self.host else f"{self.host}:{self._port}"

    async def start(self) -> str:
        """Listen (port 0: a random free port). Raises OSError when the port is taken."""
        self._caught = asyncio.get_running_loop().create_future()
        self._server = await asyncio.start_server(self._serve, self.host, self._port)
        self._port = int(self._server.sockets[0].getsockname()[1])
        return self.url

    async def wait(self, timeout: float = CODE_LIFETIME) -> str | None:
        """The full redirect URL the browser arrived with, or None after `timeout` seconds."""
        assert self._caught is not None, "start() first"
        try:
            return await asyncio.wait_for(asyncio.shield(self._caught), timeout)
        except TimeoutError:
            return None

    def caught(self) -> str | None:
        """What arrived so far, without waiting."""
        return self._caught.result() if self._caught is not None and self._caught.done() else None

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
        if self._caught is not None and not self._caught.done():
            self._caught.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 10.0)
            for _ in range(100):  # the headers: read and ignore (bounded)
                line = await asyncio.wait_for(reader.readline(), 10.0)
                if line in (b"\r\n", b"\n", b""):
                    break
            parts = request.decode("latin-1").split()
            target = parts[1] if len(parts) >= 2 and parts[0] == "GET" else ""
            split = urlsplit(target)
            params = dict(parse_qsl(split.query))
            wanted = split.path == self.path and ("code" in params or "error" in params)
            if wanted and self._caught is not None and not self._caught.done():
                body, status = _PAGE.encode("utf-8"), "200 OK"
                self._caught.set_result(f"http://{self._netloc}{target}")
                if self._server is not None:
                    self._server.close()  # a single request: nothing else is accepted
            else:
                body, status = b"Niet gevonden", "404 Not Found"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("latin-1")
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()


async def open_listener(redirect_uri: str) -> LoopbackListener | None:
    """A started listener for a loopback redirect URI (http://127.0.0.1:PORT/path), or None when the URI
    points elsewhere or the port is taken: then pasting is the way."""
    split = urlsplit(redirect_uri)
    if split.scheme != "http" or split.hostname not in LOOPBACK_HOSTS or not split.port:
        return None
    host = "::1" if split.hostname == "::1" else "127.0.0.1"
    listener = LoopbackListener(port=split.port, path=split.path or "/", host=host)
    try:
        await listener.start()
    except OSError:
        return None
    return listener
