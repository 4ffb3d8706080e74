"""Twinfield OAuth2 / OpenID Connect on login.twinfield.com: consent, code exchange, refresh, cluster.

There is no server-to-server grant: one interactive consent yields a refresh token (documented as
valid for 25 years, not rotated); access tokens live one hour. The organisation's cluster (the host
of every SOAP call) comes from the access-token validation endpoint and needs the
``twf.organisation`` scope.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from connectors.errors import AuthError, ConnectorError, Origin
from connectors.http import Sleep, VendorClient, decode_json, require_json
from connectors.oauth import InvalidGrant, TokenResponse

LOGIN_URL = "https://login.twinfield.com"
CONNECT = "/auth/authentication/connect"
SCOPES = ("openid", "offline_access", "twf.user", "twf.organisation", "twf.organisationUser")
CLUSTER_CLAIM = "twf.clusterUrl"

RECONSENT_ADVICE = (
    "Geef opnieuw toestemming: voer `koppelaar connect` uit voor deze verbinding, open de getoonde "
    "Twinfield-link, log in met een gebruiker die toegang heeft tot de administratie en plak de "
    "terugverwijzing (of de code) terug."
)
CLIENT_ADVICE = (
    "Controleer Client ID en Client secret van de Twinfield-app (Twinfield developer portal) en vul "
    "ze opnieuw in."
)
SCOPE_ADVICE = (
    "De toestemming mist de scope twf.organisation, waardoor Twinfield geen cluster-URL meegeeft. "
    "Geef opnieuw toestemming via `koppelaar connect` (Koppelaar vraagt alle benodigde scopes); "
    "controleer in de Twinfield-app dat twf.organisation is toegestaan."
)


@dataclass(frozen=True)
class TokenInfo:
    """The validation endpoint's view of an access token: where the organisation lives."""

    cluster_url: str
    organisation_code: str
    organisation_id: str
    user_code: str
    expires_at: float
    scopes: tuple[str, ...]


class AccessTokens(Protocol):
    """Hands out a valid Twinfield access token (one hour): the shape of `connectors.oauth.TokenProvider`,
    so the TokenVault's `vault.bind(connection, refresh)` fits. `force=True`: the last one was refused
    (SOAP fault code 354).
    """

    async def access_token(self, *, force: bool = False) -> SecretStr: ...


class TwinfieldOAuth:
    """The login host: authorize URL, code exchange, refresh and access-token validation."""

    def __init__(
        self,
        client_id: str,
        client_secret: SecretStr,
        redirect_uri: str,
        *,
        login_url: str = LOGIN_URL,
        timeout: httpx.Timeout | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self._secret = client_secret
        self._clock = clock
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.login_url = login_url.rstrip("/")
        self.client = VendorClient(
            self.login_url,
            vendor="Twinfield-login",
            auth=httpx.BasicAuth(client_id, client_secret.get_secret_value()),
            timeout=timeout,
            transport=transport,
            secrets=[client_secret.get_secret_value()],
            clock=clock,
            **extra,
        )

    def __repr__(self) -> str:
        return f"TwinfieldOAuth({self.login_url!r}, client_id={self.client_id!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    # --- consent (interactive, once)

    def authorization_url(self, state: str, nonce: str | None = None, scopes: Iterable[str] = SCOPES) -> str:
        """The link the admin opens. Twinfield requires a nonce, even for plain OAuth."""
        query = {
            "client_id": self.client_id,
            "response_type": "code",
            "scope": " ".join(scopes),
            "redirect_uri": self.redirect_uri,
            "state": state,
            "nonce": nonce or secrets.token_urlsafe(16),
        }
        return f"{self.login_url}{CONNECT}/authorize?{urlencode(query)}"

    async def exchange_code(self, code: str) -> TokenResponse:
        """Trade the authorization code (lives minutes) for tokens; the refresh token is the keeper."""
        self.client.add_secret(code)
        tokens = await self._token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        )
        if not tokens[1]:
            raise AuthError(
                "Twinfield gaf geen vernieuwingstoken: de scope offline_access ontbreekt",
                advice=RECONSENT_ADVICE,
                code="missing_scope",
                exchange=self.client.last_exchange,
            )
        return TokenResponse(tokens[0], SecretStr(tokens[1]), tokens[2])

    async def refresh(self, refresh_token: SecretStr) -> TokenResponse:
        """A new access token (the vault's `Refresh`). The refresh token is not rotated: kept if absent."""
        value = refresh_token.get_secret_value()
        self.client.add_secret(value)
        access, new_refresh, lifetime = await self._token(
            {"grant_type": "refresh_token", "refresh_token": value}
        )
        return TokenResponse(access, SecretStr(new_refresh) if new_refresh else refresh_token, lifetime)

    async def _token(self, form: Mapping[str, str]) -> tuple[SecretStr, str, float]:
        response = await self.client.request(
            "POST",
            f"{CONNECT}/token",
            content=urlencode(form).encode("ascii"),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            # A lost token response costs a new access token, never a booking.
            idempotent=True,
            check=require_json,
            reveals=_tokens_in,
        )
        body = decode_json(response) if response.content.strip() else {}
        if response.status_code >= 400 or not isinstance(body, Mapping):
            raise self._token_error(response.status_code, body if isinstance(body, Mapping) else {})
        access = str(body.get("access_token") or "")
        if not access:
            raise ConnectorError("Twinfield gaf geen access token", exchange=self.client.last_exchange)
        refresh = str(body.get("refresh_token") or "")
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        return SecretStr(access), refresh, lifetime

    def _token_error(self, status: int, body: Mapping[str, Any]) -> ConnectorError:
        error = str(body.get("error") or status)
        exchange = self.client.last_exchange
        if error == "invalid_client" or status == 401:
            return AuthError(
                "Twinfield weigert Client ID of Client secret (invalid_client)",
                advice=CLIENT_ADVICE,
                code="invalid_client",
                exchange=exchange,
            )
        if error == "invalid_grant":
            # InvalidGrant: the token vault re-reads (another process?) before declaring re-auth.
            return InvalidGrant(
                "De toestemming voor Twinfield is ingetrokken of verlopen (invalid_grant)",
                advice=RECONSENT_ADVICE,
                code="invalid_grant",
                exchange=exchange,
            )
        if error == "unauthorized_client":
            return AuthError(
                "Deze Twinfield-app mag deze manier van aanmelden niet gebruiken (unauthorized_client)",
                advice="Twinfield kent geen server-naar-server-aanmelding: " + RECONSENT_ADVICE,
                code="unauthorized_client",
                exchange=exchange,
            )
        return ConnectorError(
            f"Twinfield-aanmelding mislukt ({error})",
            advice="Probeer het later opnieuw; blijft het gebeuren, meld het dan bij Koppelaar.",
            code=error,
            exchange=exchange,
            origin=Origin.AUTH,
        )

    # --- cluster discovery

    async def validate(self, access_token: str) -> TokenInfo:
        """Ask the login host about a token: organisation and its cluster. Invalid token → AuthError."""
        self.client.add_secret(access_token)
        response = await self.client.request(
            "GET",
            f"{CONNECT}/accesstokenvalidation",
            params={"token": access_token},
            check=require_json,
        )
        body = decode_json(response) if response.content.strip() else {}
        if response.status_code >= 400 or not isinstance(body, Mapping):
            raise AuthError(
                "Twinfield herkent het access token niet (meer)",
                advice=RECONSENT_ADVICE,
                code=f"validation_{response.status_code}",
                exchange=self.client.last_exchange,
            )
        scopes = body.get("scope") or []
        scope_list = tuple(str(s) for s in scopes) if isinstance(scopes, list) else tuple(str(scopes).split())
        cluster = str(body.get(CLUSTER_CLAIM) or "").rstrip("/")
        if not cluster:
            raise AuthError(
                "Twinfield gaf geen cluster-URL voor deze organisatie: de scope twf.organisation ontbreekt",
                advice=SCOPE_ADVICE,
                code="missing_scope",
                exchange=self.client.last_exchange,
            )
        try:
            expires = float(str(body.get("exp", "0")))  # epoch seconds, sent as a string
        except ValueError:
            expires = 0.0
        return TokenInfo(
            cluster_url=cluster,
            organisation_code=str(body.get("twf.organisationCode") or ""),
            organisation_id=str(body.get("twf.organisationId") or ""),
            user_code=str(body.get("twf.organisationUserCode") or ""),
            expires_at=expires,
            scopes=scope_list,
        )


def _tokens_in(response: httpx.Response) -> list[str]:
    body = decode_json(response)
    if not isinstance(body, Mapping):
        return []
    return [str(body[k]) for k in ("access_token", "refresh_token", "id_token") if body.get(k)]


class RefreshingTokens:
    """An in-process AccessTokens from a stored refresh token: tests, one-off commands, the demo.

    Twinfield's refresh token does not rotate, so nothing needs persisting here; the daemon uses the
    shared TokenVault instead (one refresh across tasks and processes). Single-flight per instance.
    """

    def __init__(
        self, oauth: TwinfieldOAuth, refresh_token: SecretStr, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._oauth = oauth
        self._refresh = refresh_token
        self._clock = clock
        self._current: tuple[SecretStr, float] | None = None  # (access token, expires at)
        self._lock = asyncio.Lock()
        self.refreshes = 0

    async def access_token(self, *, force: bool = False) -> SecretStr:
        refused = self._current[0] if force and self._current else None
        async with self._lock:
            current = self._current
            if current is None or current[0] is refused or current[1] - self._clock() <= 60:
                tokens = await self._oauth.refresh(self._refresh)
                self._current = current = (tokens.access_token, self._clock() + tokens.expires_in)
                self.refreshes += 1
            return current[0]
