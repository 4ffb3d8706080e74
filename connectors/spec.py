"""What a connector package tells the rest of Koppelaar about itself: one `ConnectorSpec` each.

The core (config, engine, scheduler, console) knows vendors only through their specs, collected in
`connectors/registry.py`: the system id used in koppelaar.toml and the store, the settings model, which
secrets to ask for and where the admin finds them, how to log in, and how to build the connector.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr

from connectors.contract import BookingTarget, Source
from connectors.model import Administratie
from connectors.oauth import Refresh, TokenProvider, TokenResponse


class Role(StrEnum):
    SOURCE = "source"
    TARGET = "target"


class AuthKind(StrEnum):
    CREDENTIALS = "credentials"  # typed in: a login and secret codes or an API key
    OAUTH = "oauth"  # "Autoriseer applicatie" in a browser; refresh tokens rotate
    ACTIVATION = "activation"  # a handshake with a code the vendor shows (Finbox's Connectie-id)
    EXCHANGE_TOKEN = "exchange_token"  # a token created in the vendor's screens, with an e-mail address
    NONE = "none"  # nothing to log in to (a folder)


class Step(StrEnum):
    """One step of connecting, as data. The runner in sync/connect.py walks a spec's steps; the console's
    wizard and `koppelaar connect` only render what each step asks."""

    ASK = "ask"  # type the login and secrets, or an OAuth app's Client ID, Client secret (and country)
    CHECK = "check"  # try the typed credentials against the vendor before anything is stored
    AUTHORISE = "authorise"  # open a URL in a browser, paste the address it lands on (or catch it)
    ADMINISTRATIE = "administratie"  # choose the administratie from the vendor's own list
    DAGBOEKEN = "dagboeken"  # choose the verkoop- and inkoopboek of the chosen administratie
    TEGENREKENINGEN = "tegenrekeningen"  # choose the tegenrekeningen of every koppeling into it


class ConnectionSettings(BaseModel):
    """The non-secret settings of one connection under [connections.NAME] in koppelaar.toml."""

    model_config = ConfigDict(extra="forbid")

    system: str
    # Where the chosen administratie is kept ("" when the system has none to choose).
    ADMINISTRATIE_KEY: ClassVar[str] = ""
    # The keys of the default dagboek per soort ('verkoop', 'inkoop'), for systems that have dagboeken.
    JOURNAL_KEYS: ClassVar[dict[str, str]] = {}

    @property
    def administratie_id(self) -> str:
        """The administratie this connection books into or reads from ("" when none is chosen)."""
        if not self.ADMINISTRATIE_KEY:
            return ""
        value = getattr(self, self.ADMINISTRATIE_KEY)
        return "" if value is None else str(value)

    def administratie_update(self, administratie: str) -> dict[str, str | int]:
        """The settings to write when the admin chooses `administratie`."""
        return {self.ADMINISTRATIE_KEY: administratie} if self.ADMINISTRATIE_KEY else {}

    def journal(self, word: str) -> str:
        """The default dagboek for 'verkoop' or 'inkoop' ("" where the system has no dagboeken)."""
        key = self.JOURNAL_KEYS.get(word)
        return str(getattr(self, key)) if key else ""


class OAuthSettings(ConnectionSettings):
    """A connection that authorises in the browser: its app registration's Client ID and Redirect URI
    (the Client secret is a secret)."""

    client_id: str = ""
    redirect_uri: str = ""


S = TypeVar("S", bound=ConnectionSettings)
OS = TypeVar("OS", bound=OAuthSettings)


@dataclass(frozen=True)
class SecretField:
    """A secret the admin types in once; it lives only in the secret store, as `<connection>:<key>`."""

    key: str
    label: str


@dataclass(frozen=True)
class LoginField:
    """A non-secret login value kept in koppelaar.toml (e-Boekhouden's Gebruikersnaam)."""

    key: str
    label: str


class BuildContext(Protocol):
    """What a builder may borrow from the core: the connection's secrets and, for OAuth, its tokens."""

    def secret(self, key: str) -> SecretStr:
        """The stored secret; raises when the admin has not connected (the core's NotConnected)."""
        ...

    def tokens(self, refresh: Refresh, *, refresh_window: float) -> TokenProvider:
        """Access tokens from the token vault (single-flight refresh, persisted before use)."""
        ...

    def on_close(self, close: Callable[[], object]) -> None:
        """Run `close` (sync or async) when the connector is closed: what it borrowed goes with it."""
        ...


class OAuthClient(Protocol):
    """The token endpoint of one OAuth app registration."""

    def authorization_url(self, state: str, nonce: str) -> str: ...

    async def exchange_code(self, code: str) -> TokenResponse: ...

    async def refresh(self, refresh_token: SecretStr) -> TokenResponse: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Welcome:
    """What the vendor said right after the code was exchanged."""

    administraties: list[Administratie]
    current: str  # the administratie the user works in ("" when the vendor does not say)
    reason: str  # e.g. "Geautoriseerd bij Twinfield, organisatie KOP"


@dataclass(frozen=True)
class OAuthSpec(Generic[OS]):
    """How a connection authorises in the browser ("Autoriseer applicatie")."""

    client: Callable[[OS, SecretStr], OAuthClient]
    # How long before expiry a refresh is allowed (Exact refuses one earlier than ~30 s; inf = any time).
    refresh_window: float
    # Seconds after which a refresh token nobody used expires (None: the vendor lets it live).
    refresh_idle_expiry: float | None
    host: Callable[[OS], str]  # where the tokens are valid: a change of host needs a new authorization
    # A target on freshly exchanged tokens (nothing stored yet), in `administratie` ("" = the default).
    discovery: Callable[[OS, SecretStr, TokenProvider, str], BookingTarget]
    # Check the new authorization, list the administraties, say who the user is; raises ConnectorError.
    welcome: Callable[[BookingTarget, OS], Awaitable[Welcome]]
    where: str  # where the admin finds the Client ID and secret
    administratie_label: str = ""  # the vendor's own word for the administratie ("Divisie code")
    # (code, name) asked before authorising when the vendor has a host per country.
    countries: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ConnectorSpec(Generic[S]):
    """One vendor, as the core sees it."""

    system: str  # the one name in koppelaar.toml, outbox references and the store
    label: str  # as the vendor writes its name
    settings: type[S]
    auth: AuthKind
    secrets: Callable[[S], tuple[SecretField, ...]]
    build_source: Callable[[str, S, BuildContext], Source] | None = None
    build_target: Callable[[str, S, BuildContext], BookingTarget] | None = None
    login: Callable[[S], LoginField | None] = field(default=lambda settings: None)
    where: Callable[[S], str] = field(default=lambda settings: "")  # where to find the secrets
    intro: str = ""  # the connect dialog's first sentence, in the vendor's manual's words
    steps: tuple[Step, ...] = (Step.ASK, Step.CHECK)  # how the admin connects, in order
    ledger_hint: str = ""  # where the admin finds the ledger accounts, shown with the tegenrekeningen
    oauth: OAuthSpec[Any] | None = None
    # Relation codes in a target say which source a relation came from, so two sources never collide.
    relation_prefix: str = ""

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(
            role
            for role, builder in ((Role.SOURCE, self.build_source), (Role.TARGET, self.build_target))
            if builder is not None
        )


AnySpec = ConnectorSpec[Any]
