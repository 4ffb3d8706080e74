"""Exact Online OAuth2: authorization URL, pasted redirect, code exchange and the refresh call.

The refresh is never retried here: refresh tokens rotate on every use, so a second attempt after a lost
answer would present a token Exact has already replaced. Whatever the token endpoint returns with a
token pair in it (even a refusal) is handed back to be persisted (the sheet: picqer#559).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from connectors.errors import AuthError, ConnectorError
from connectors.http import VendorClient, decode_json
from connectors.oauth import InvalidGrant, RefreshTooEarly, TokenResponse

Country = Literal["NL", "BE"]
HOSTS: dict[str, str] = {"NL": "https://start.exactonline.nl", "BE": "https://start.exactonline.be"}
TOKEN_PATH = "/api/oauth2/token"
AUTH_PATH = "/api/oauth2/auth"
TOKEN_TIMEOUT = httpx.Timeout(30.0, connect=10.0)  # well inside the token vault's lease

APP_CENTER_ADVICE = (
    "Controleer Client ID, Client secret en Redirect URI van de app in het Exact App Center "
    "(https://apps.exactonline.com/, Mijn apps beheren) en vul ze opnieuw in bij de verbinding."
)


class ExactOAuth:
    """The OAuth side of one Exact app on one host (tokens are per host: NL tokens fail on .be)."""

    def __init__(
        self,
        client_id: str,
        client_secret: SecretStr,
        redirect_uri: str,
        *,
        country: Country = "NL",
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.country: Country = country
        self.host = (base_url or HOSTS[country]).rstrip("/")
        self._secret = client_secret
        self.client = VendorClient(
            self.host,
            vendor="Exact Online",
            headers={"Accept": "application/json"},
            transport=transport,
            timeout=timeout or TOKEN_TIMEOUT,
            secrets=[client_secret.get_secret_value()],
            max_attempts=1,  # never repeat a token request (see the module docstring)
        )

    def __repr__(self) -> str:
        return f"ExactOAuth({self.host!r}, client_id={self.client_id!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    # --- authorization code flow (works over SSH: print the URL, paste the redirect back)

    def authorization_url(self, state: str, nonce: str = "", *, force_login: bool = False) -> str:
        # `nonce` is OpenID Connect's; Exact speaks plain OAuth 2 and gets none.
        query = urlencode(
            {
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "response_type": "code",
                "state": state,
                "force_login": "1" if force_login else "0",
            }
        )
        return f"{self.host}{AUTH_PATH}?{query}"

    async def exchange_code(self, code: str) -> TokenResponse:
        """The authorization code (valid ~3 minutes, once) for the first token pair."""
        self.client.add_secret(code)
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "client_id": self.client_id,
                "client_secret": self._secret.get_secret_value(),
            },
            refreshing=False,
        )

    async def refresh(self, refresh_token: SecretStr) -> TokenResponse:
        """One refresh; `connectors.oauth.Refresh` for the token vault."""
        self.client.add_secret(refresh_token.get_secret_value())
        return await self._token(
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token.get_secret_value(),
                "client_id": self.client_id,
                "client_secret": self._secret.get_secret_value(),
            },
            refreshing=True,
        )

    async def _token(self, form: Mapping[str, str], *, refreshing: bool) -> TokenResponse:
        response = await self.client.request(
            "POST",
            TOKEN_PATH,
            content=urlencode(form).encode("ascii"),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            idempotent=False,
            reveals=_tokens_in,
        )
        body = _body(response)
        carried = _pair(body)
        if carried is not None:
            for token in (carried.access_token, carried.refresh_token):
                self.client.add_secret(token.get_secret_value())
        if response.status_code == 200:
            if carried is None:
                raise ConnectorError(
                    "Exact Online gaf geen bruikbaar token terug",
                    advice="Probeer het later opnieuw; lukt het niet, autoriseer de koppeling opnieuw.",
                    exchange=self.client.last_exchange,
                )
            return carried
        error = str(body.get("error") or "")
        description = str(body.get("error_description") or response.text[:200])
        reason = response.headers.get("reason", "")
        exchange = self.client.last_exchange
        if reason == "TooEarlyToRefreshTokens" or "not expired" in description:
            raise RefreshTooEarly(
                "Exact Online staat vernieuwen van het toegangstoken nog niet toe (TooEarlyToRefreshTokens)",
                tokens=carried,
                advice="Tijdelijk: het token wordt vernieuwd zodra Exact dat toestaat.",
                code="TOO_EARLY",
                exchange=exchange,
            )
        if carried is not None:
            return carried  # a refusal that rotated anyway: persisting it is the only way to keep access
        if error == "invalid_client":
            raise AuthError(
                "Exact Online herkent de app niet (Client ID of Client secret onjuist)",
                advice=APP_CENTER_ADVICE,
                code="INVALID_CLIENT",
                exchange=exchange,
            )
        if error == "invalid_request" and "expired" in description:
            raise InvalidGrant(
                "het vernieuwingstoken is verlopen: het is 30 dagen niet gebruikt",
                advice="Autoriseer de koppeling opnieuw. Een koppeling die minstens wekelijks draait, "
                "verloopt niet.",
                code="REFRESH_EXPIRED",
                exchange=exchange,
            )
        if error == "invalid_grant" or refreshing:
            what = "het vernieuwingstoken" if refreshing else "de autorisatiecode"
            raise InvalidGrant(
                f"Exact Online weigert {what}: {description or error}",
                advice="Autoriseer de koppeling opnieuw"
                + ("" if refreshing else " (een code is ongeveer 3 minuten geldig en één keer te gebruiken)")
                + ".",
                code=error or str(response.status_code),
                exchange=exchange,
            )
        raise AuthError(
            f"Exact Online weigert de autorisatie: {description or error or response.status_code}",
            advice=APP_CENTER_ADVICE,
            code=error or str(response.status_code),
            exchange=exchange,
        )


def _body(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = decode_json(response)
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def _pair(body: Mapping[str, Any]) -> TokenResponse | None:
    if "access_token" not in body or "refresh_token" not in body:
        return None
    try:
        return TokenResponse.from_json(body)
    except ValueError:
        return None


def _tokens_in(response: httpx.Response) -> list[str]:
    body = decode_json(response)
    if not isinstance(body, Mapping):
        return []
    return [str(body[k]) for k in ("access_token", "refresh_token") if body.get(k)]
