"""Turn koppelaar.toml plus the secret store into connectors, and run a koppeling with them."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from pydantic import SecretStr

from connectors.contract import BookingTarget, RateLimit, Source
from connectors.eboekhouden import EBoekhoudenRest, EBoekhoudenSoap
from connectors.errors import Origin
from connectors.exact import ExactOAuth, ExactOnline
from connectors.factuursturen import FactuurSturenSource
from connectors.twinfield import Twinfield, TwinfieldOAuth
from connectors.twinfield.auth import LOGIN_URL as TWINFIELD_LOGIN_URL
from state.config import load_settings
from state.home import Home
from state.secrets import SecretStore, open_secret_store
from state.settings import (
    Connection,
    EBoekhoudenConnection,
    ExactConnection,
    FactuurSturenConnection,
    Settings,
    TwinfieldConnection,
)
from state.store import Store
from state.tokens import TokenStatus, TokenVault, vault_key
from sync.engine import Engine, Progress, RunReport, RunStatus


class NotConnected(Exception):
    """A connection lacks a secret: the admin has not connected it (or disconnected it)."""

    def __init__(self, connection: str, field: str, store: SecretStore) -> None:
        super().__init__(
            f"Verbinding '{connection}' is niet verbonden: geen {field.replace('_', ' ')} in {store.describe()}."
        )
        self.connection = connection
        self.field = field


class UnknownKoppeling(LookupError):
    pass


def secret_fields(connection: Connection) -> tuple[str, ...]:
    if isinstance(connection, FactuurSturenConnection):
        return ("api_key",)
    if isinstance(connection, ExactConnection | TwinfieldConnection):
        return ("client_secret",)  # the tokens live in the token vault, not here
    if connection.api == "rest":
        return ("api_token",)
    return ("beveiligingscode_1", "beveiligingscode_2")


def uses_oauth(connection: Connection) -> bool:
    return isinstance(connection, ExactConnection | TwinfieldConnection)


def _secret(secrets: SecretStore, connection: str, field: str) -> SecretStr:
    value = secrets.get(f"{connection}:{field}")
    if value is None or not value.get_secret_value():
        raise NotConnected(connection, field, secrets)
    return value


def is_connected(name: str, connection: Connection, secrets: SecretStore) -> bool:
    """All its secrets are there (for OAuth: the client secret; the authorization is separate)."""
    return all(secrets.get(f"{name}:{field}") is not None for field in secret_fields(connection))


def token_status(database: Path, name: str, secrets: SecretStore) -> TokenStatus | None:
    """The OAuth authorization of a connection: None when it was never authorized."""
    vault = TokenVault(database, vault_key(secrets))
    try:
        return vault.status(name)
    finally:
        vault.close()


class _Borrowing:
    """A target plus what it borrows (an OAuth client, the token vault), all closed with it."""

    def __init__(self, target: object, *closers: Callable[[], object]) -> None:
        self._target = target
        self._closers = closers

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._target, attribute)

    async def aclose(self) -> None:
        await cast(Any, self._target).aclose()
        for close in self._closers:
            result = close()
            if isinstance(result, Awaitable):
                await result


def build_source(name: str, connection: Connection, secrets: SecretStore) -> Source:
    if isinstance(connection, FactuurSturenConnection):
        return FactuurSturenSource(
            connection.username, _secret(secrets, name, "api_key"), base_url=connection.base_url
        )
    raise ValueError(f"verbinding '{name}' ({connection.system}) kan geen facturen leveren")


def build_target(
    name: str, connection: Connection, secrets: SecretStore, *, home: Home | None = None
) -> BookingTarget:
    """The target for a connection. OAuth targets need `home`: their tokens live in its database."""
    if isinstance(connection, ExactConnection | TwinfieldConnection):
        if home is None:
            raise ValueError(f"verbinding '{name}' gebruikt OAuth: de token-kluis (home) is nodig")
        return _oauth_target(name, connection, secrets, home)
    if not isinstance(connection, EBoekhoudenConnection):
        raise ValueError(f"verbinding '{name}' ({connection.system}) kan geen boekingen ontvangen")
    limit = RateLimit(connection.rate_limit_per_second, connection.max_concurrency)
    common = {
        "country": connection.country,
        "administratie": connection.administratie,
        "debiteuren_rekening": connection.debiteuren_rekening,
        "crediteuren_rekening": connection.crediteuren_rekening,
        "rate_limit": limit,
    }
    if connection.base_url:
        common["base_url"] = connection.base_url
    if connection.api == "rest":
        return EBoekhoudenRest(_secret(secrets, name, "api_token"), **common)  # type: ignore[arg-type]
    return EBoekhoudenSoap(
        connection.username,
        _secret(secrets, name, "beveiligingscode_1"),
        _secret(secrets, name, "beveiligingscode_2"),
        **common,  # type: ignore[arg-type]
    )


def oauth_client(
    connection: ExactConnection | TwinfieldConnection, secret: SecretStr
) -> ExactOAuth | TwinfieldOAuth:
    """The OAuth client of an Exact Online or Twinfield connection."""
    if isinstance(connection, ExactConnection):
        return ExactOAuth(
            connection.client_id,
            secret,
            connection.redirect_uri,
            country=connection.country,
            base_url=connection.base_url or None,
        )
    return TwinfieldOAuth(
        connection.client_id,
        secret,
        connection.redirect_uri,
        login_url=connection.login_url or TWINFIELD_LOGIN_URL,
    )


def _oauth_target(
    name: str, connection: ExactConnection | TwinfieldConnection, secrets: SecretStore, home: Home
) -> BookingTarget:
    client_secret = _secret(secrets, name, "client_secret")
    # Only Exact refuses a refresh until ~30 s before expiry; Twinfield may refresh at any moment.
    window = math.inf if isinstance(connection, TwinfieldConnection) else 30.0
    vault = TokenVault(home.database, vault_key(secrets), refresh_window=window)
    oauth = oauth_client(connection, client_secret)
    if isinstance(connection, ExactConnection):
        assert isinstance(oauth, ExactOAuth)
        target: object = ExactOnline(
            vault.bind(name, oauth.refresh),
            division=connection.division,
            country=connection.country,
            base_url=connection.base_url or None,
            sales_journal=connection.verkoopboek,
            purchase_journal=connection.inkoopboek,
            rate_limit=RateLimit(connection.rate_limit_per_second, connection.max_concurrency),
        )
        return cast(BookingTarget, _Borrowing(target, oauth.aclose, vault.close))
    assert isinstance(oauth, TwinfieldOAuth)
    twinfield = Twinfield(
        oauth,
        vault.bind(name, oauth.refresh),
        office=connection.office,
        sales_journal=connection.sales_journal,
        purchase_journal=connection.purchase_journal,
        debiteuren_rekening=connection.debiteuren_rekening,
        crediteuren_rekening=connection.crediteuren_rekening,
        destiny=connection.destiny,
        autobalance_vat=connection.autobalance_vat,
    )
    return cast(BookingTarget, _Borrowing(twinfield, vault.close))  # Twinfield closes its OAuth client


def build_connector(
    name: str, connection: Connection, secrets: SecretStore, *, home: Home | None = None
) -> Source | BookingTarget:
    """Whichever side this connection plays, for a connection check."""
    if isinstance(connection, FactuurSturenConnection):
        return build_source(name, connection, secrets)
    return build_target(name, connection, secrets, home=home)


def koppeling_or_fail(settings: Settings, name: str) -> None:
    if name not in settings.koppelingen:
        known = ", ".join(sorted(settings.koppelingen)) or "geen"
        raise UnknownKoppeling(f"Onbekende koppeling '{name}' (bekend: {known}).")


async def run_koppeling(
    home: Home,
    name: str,
    *,
    dry_run: bool = False,
    trigger: str = "manual",
    retry: bool | frozenset[str] = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> RunReport:
    settings = load_settings(home.config)
    koppeling_or_fail(settings, name)
    koppeling = settings.koppelingen[name]
    if koppeling.deactivated:
        return RunReport(name, 0, dry_run, RunStatus.FAILED, f"{name} is gedeactiveerd: activeer hem eerst.")
    secrets = open_secret_store(settings.app, home.root)
    store = Store(home.database)
    try:
        try:
            source = build_source(koppeling.source, settings.connections[koppeling.source], secrets)
            target = build_target(
                koppeling.target, settings.connections[koppeling.target], secrets, home=home
            )
        except NotConnected as exc:
            store.report_problem(
                name,
                origin=f"{Origin.AUTH.value}:{exc.connection}",
                code="niet-verbonden",
                title=str(exc),
                advice=f"Voer 'koppelaar connect {exc.connection}' uit.",
                retryable=False,
            )
            return RunReport(name, 0, dry_run, RunStatus.FAILED, str(exc))
        try:
            engine = Engine(store, name, koppeling, source, target, on_progress=on_progress)
            return await engine.run(dry_run=dry_run, trigger=trigger, retry=retry)
        finally:
            await source.aclose()
            await target.aclose()
    finally:
        store.close()
