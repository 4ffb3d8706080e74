"""Turn koppelaar.toml plus the secret store into connectors, and run a koppeling with them."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import SecretStr

from connectors.contract import BookingTarget, Source
from connectors.errors import Origin
from connectors.oauth import Refresh, TokenProvider
from connectors.registry import spec_for
from connectors.spec import AuthKind, OAuthClient
from state.config import load_settings
from state.home import Home
from state.secrets import SecretStore, open_secret_store
from state.settings import Connection, Settings
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
    """The keys of the connection's secrets (OAuth tokens live in the token vault, not here)."""
    return tuple(field.key for field in spec_for(connection.system).secrets(connection))


def uses_oauth(connection: Connection) -> bool:
    return spec_for(connection.system).auth is AuthKind.OAUTH


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
    """A connector plus what it borrows (an OAuth client, the token vault), all closed with it."""

    def __init__(self, connector: object, closers: list[Callable[[], object]]) -> None:
        self._connector = connector
        self._closers = closers

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._connector, attribute)

    async def aclose(self) -> None:
        await cast(Any, self._connector).aclose()
        for close in self._closers:
            result = close()
            if isinstance(result, Awaitable):
                await result


class _BuildContext:
    """What a connector's builder borrows: the secret store and, for OAuth, the token vault of `home`."""

    def __init__(self, name: str, secrets: SecretStore, home: Home | None) -> None:
        self.name, self._secrets, self._home = name, secrets, home
        self.closers: list[Callable[[], object]] = []

    def secret(self, key: str) -> SecretStr:
        return _secret(self._secrets, self.name, key)

    def tokens(self, refresh: Refresh, *, refresh_window: float) -> TokenProvider:
        if self._home is None:
            raise ValueError(f"verbinding '{self.name}' gebruikt OAuth: de token-kluis (home) is nodig")
        vault = TokenVault(self._home.database, vault_key(self._secrets), refresh_window=refresh_window)
        self.closers.append(vault.close)
        return vault.bind(self.name, refresh)

    def on_close(self, close: Callable[[], object]) -> None:
        self.closers.append(close)

    def borrowing(self, connector: _C) -> _C:
        return cast(_C, _Borrowing(connector, self.closers)) if self.closers else connector


_C = TypeVar("_C", Source, BookingTarget)


def build_source(name: str, connection: Connection, secrets: SecretStore) -> Source:
    spec = spec_for(connection.system)
    if spec.build_source is None:
        raise ValueError(f"verbinding '{name}' ({spec.label}) kan geen facturen leveren")
    context = _BuildContext(name, secrets, None)
    return context.borrowing(spec.build_source(name, connection, context))


def build_target(
    name: str, connection: Connection, secrets: SecretStore, *, home: Home | None = None
) -> BookingTarget:
    """The target for a connection. OAuth targets need `home`: their tokens live in its database."""
    spec = spec_for(connection.system)
    if spec.build_target is None:
        raise ValueError(f"verbinding '{name}' ({spec.label}) kan geen boekingen ontvangen")
    context = _BuildContext(name, secrets, home)
    return context.borrowing(spec.build_target(name, connection, context))


def oauth_client(connection: Connection, secret: SecretStr) -> OAuthClient:
    """The OAuth client of a connection that authorises in the browser."""
    oauth = spec_for(connection.system).oauth
    if oauth is None:
        raise ValueError(f"{connection.system} wordt niet in de browser geautoriseerd")
    return oauth.client(connection, secret)


def refresh_window(connection: Connection) -> float:
    """How early before expiry the vendor accepts a refresh (see connectors.spec.OAuthSpec)."""
    oauth = spec_for(connection.system).oauth
    return oauth.refresh_window if oauth is not None else math.inf


def build_connector(
    name: str, connection: Connection, secrets: SecretStore, *, home: Home | None = None
) -> Source | BookingTarget:
    """Whichever side this connection plays, for a connection check."""
    if spec_for(connection.system).build_target is None:
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
    stop: Callable[[], bool] | None = None,
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
            engine = Engine(store, name, koppeling, source, target, on_progress=on_progress, stop=stop)
            return await engine.run(dry_run=dry_run, trigger=trigger, retry=retry)
        finally:
            await source.aclose()
            await target.aclose()
    finally:
        store.close()
