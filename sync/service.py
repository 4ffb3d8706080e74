"""Turn koppelaar.toml plus the secret store into connectors, and run a koppeling with them."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr

from connectors.contract import BookingTarget, InvoiceSource, RateLimit
from connectors.eboekhouden import EBoekhoudenRest, EBoekhoudenSoap
from connectors.errors import Origin
from connectors.factuursturen import FactuurSturenSource
from state.config import load_settings
from state.home import Home
from state.secrets import SecretStore, open_secret_store
from state.settings import Connection, EBoekhoudenConnection, FactuurSturenConnection, Settings
from state.store import Store
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
    if connection.api == "rest":
        return ("api_token",)
    return ("beveiligingscode_1", "beveiligingscode_2")


def _secret(secrets: SecretStore, connection: str, field: str) -> SecretStr:
    value = secrets.get(f"{connection}:{field}")
    if value is None or not value.get_secret_value():
        raise NotConnected(connection, field, secrets)
    return value


def is_connected(name: str, connection: Connection, secrets: SecretStore) -> bool:
    return all(secrets.get(f"{name}:{field}") is not None for field in secret_fields(connection))


def build_source(name: str, connection: Connection, secrets: SecretStore) -> InvoiceSource:
    if isinstance(connection, FactuurSturenConnection):
        return FactuurSturenSource(
            connection.username, _secret(secrets, name, "api_key"), base_url=connection.base_url
        )
    raise ValueError(f"verbinding '{name}' ({connection.system}) kan geen facturen leveren")


def build_target(name: str, connection: Connection, secrets: SecretStore) -> BookingTarget:
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


def build_connector(name: str, connection: Connection, secrets: SecretStore) -> InvoiceSource | BookingTarget:
    """Whichever side this connection plays, for a connection check."""
    if isinstance(connection, FactuurSturenConnection):
        return build_source(name, connection, secrets)
    return build_target(name, connection, secrets)


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
            target = build_target(koppeling.target, settings.connections[koppeling.target], secrets)
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
