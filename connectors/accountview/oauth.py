"""AccountView.Net OAuth2 (authorization code): authorization URL, code exchange and the refresh call.

Client ID and secret go in the form, never in a Basic header (the public Go client registers the token
endpoint as one that refuses Basic auth); the scope is `*`. A refresh is never retried here: we treat
refresh tokens as rotating (not documented), so a second attempt after a lost answer could present a
token AccountView has already replaced. The token vault makes the refresh single-flight and persists
the new pair before it is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from connectors.errors import AuthError, ConnectorError
from connectors.http import VendorClient, decode_json
from connectors.oauth import InvalidGrant, TokenResponse

HOST = "https://www.accountview.net"
TOKEN_PATH = "/api/v3/token"
AUTH_PATH = "/api/v3/authorize"  # not in the public material: an assumption (docs/protocol-decisions.md)
SCOPE = "*"
TOKEN_TIMEOUT = httpx.Timeout(30.0, connect=10.0)  # well inside the token vault's lease

DEVELOPER_ADVICE = (
    "Controleer Client ID (API-sleutel), Client secret en Redirect URI van de app op accountview.net → "
    "Ontwikkelaar en vul ze hier opnieuw in."
)


class AccountViewOAuth:
    """The OAuth side of one AccountView.Net app."""

    def __init__(
        self,
        client_id: str,
        client_secret: SecretStr,
        redirect_uri: str,
        *,
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.host = (base_url or HOST).rstrip("/")
        self._secret = client_secret
        self.client = VendorClient(
            self.host,
            vendor="AccountView",
            headers={"Accept": "application/json"},
            transport=transport,
            timeout=TOKEN_TIMEOUT,
            secrets=[client_secret.get_secret_value()],
            max_attempts=1,  # never repeat a token request (see the module docstring)
        )

    def __repr__(self) -> str:
        return f"AccountViewOAuth({self.host!r}, client_id={self.client_id!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    def authorization_url(self, state: str, nonce: str = "") -> str:
        query = urlencode(
            {
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "response_type": "code",
                "scope": SCOPE,
                "state": state,
            }
        )
        return f"{self.host}{AUTH_PATH}?{query}"

    async def exchange_code(self, code: str) -> TokenResponse:
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
                "redirect_uri": self.redirect_uri,
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
        exchange = self.client.last_exchange
        if response.status_code == 200:
            try:
                return TokenResponse.from_json(body)
            except ValueError as exc:
                raise ConnectorError(
                    f"AccountView gaf geen bruikbaar token terug: {exc}",
                    advice="Probeer het later opnieuw; lukt het niet, autoriseer de koppeling opnieuw.",
                    exchange=exchange,
                ) from None
        error = str(body.get("error") or "")
        description = str(body.get("error_description") or body.get("ErrorMessage") or "")
        if error == "invalid_client":
            raise AuthError(
                "AccountView herkent de app niet (Client ID of Client secret onjuist)",
                advice=DEVELOPER_ADVICE,
                code="INVALID_CLIENT",
                exchange=exchange,
            )
        if error == "invalid_grant" or refreshing:
            what = "het vernieuwingstoken" if refreshing else "de autorisatiecode"
            raise InvalidGrant(
                f"AccountView weigert {what}: {description or error or response.status_code}",
                advice="Autoriseer de koppeling opnieuw (Autoriseer applicatie).",
                code=error or str(response.status_code),
                exchange=exchange,
            )
        raise AuthError(
            f"AccountView weigert de autorisatie: {description or error or response.status_code}",
            advice=DEVELOPER_ADVICE,
            code=error or str(response.status_code),
            exchange=exchange,
        )


def _body(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = decode_json(response)
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def _tokens_in(response: httpx.Response) -> list[str]:
    body = decode_json(response)
    if not isinstance(body, Mapping):
        return []
    return [str(body[k]) for k in ("access_token", "refresh_token") if body.get(k)]
