"""OAuth2 pieces every OAuth vendor shares (Exact Online, Twinfield): the token endpoint's answer, its
refusals, and what a connector needs from whoever keeps the tokens (state/tokens.py).

A connector never stores tokens itself: rotating refresh tokens must be persisted before they are used,
across processes, which is the token vault's job. The connector only asks for an access token.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr

from connectors.errors import AuthError, TransientError


@dataclass(frozen=True)
class TokenResponse:
    """A successful answer of a token endpoint. `expires_in` is in seconds (Exact sends it as a string)."""

    access_token: SecretStr
    refresh_token: SecretStr
    expires_in: float

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> TokenResponse:
        """Parse `{"access_token", "refresh_token", "expires_in"}`; raises ValueError when incomplete."""
        access = body.get("access_token")
        refresh = body.get("refresh_token")
        if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
            raise ValueError("het antwoord bevat geen access_token en refresh_token")
        raw = body.get("expires_in")
        try:
            expires_in = (
                float(Decimal(str(raw).strip())) if isinstance(raw, str | int | Decimal) else math.nan
            )
        except ArithmeticError:
            expires_in = math.nan
        if not math.isfinite(expires_in) or expires_in <= 0:
            raise ValueError(f"expires_in is geen aantal seconden: {raw!r}")
        return cls(SecretStr(access), SecretStr(refresh), expires_in)

    def __repr__(self) -> str:
        return f"TokenResponse(expires_in={self.expires_in:g})"


class InvalidGrant(AuthError):
    """The token endpoint refused the refresh token (rotated, expired, revoked): only a new
    authorization helps, unless another process rotated it meanwhile (the vault checks that)."""


class RefreshTooEarly(TransientError):
    """The vendor refuses a refresh this early (Exact: `TooEarlyToRefreshTokens`).

    `tokens` holds a new pair when the refusal nevertheless carried one: it must be persisted.
    """

    def __init__(self, message: str, *, tokens: TokenResponse | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.tokens = tokens


Refresh = Callable[[SecretStr], Awaitable[TokenResponse]]


@runtime_checkable
class TokenProvider(Protocol):
    """Access tokens for one connection. `force=True` after a 401: the token we used was refused."""

    async def access_token(self, *, force: bool = False) -> SecretStr: ...


def code_from_redirect(pasted: str, *, state: str, vendor: str) -> str:
    """The authorization code from what the admin pasted: the full redirect URL (its `state` must be this
    attempt's) or just the code. Standard OAuth 2: the same for every vendor."""
    text = pasted.strip().strip("'\"<>")
    if not text:
        raise AuthError(
            "Er is niets geplakt",
            advice="Plak het volledige adres waar de browser na Toestaan op uitkomt (of alleen de code).",
        )
    if "?" not in text and "=" not in text and "/" not in text:
        return text  # a bare code: nothing to check it against
    query = urlsplit(text).query if "?" in text else text
    params = dict(parse_qsl(query.split("#", 1)[0], keep_blank_values=True))
    if "error" in params:
        reason = params.get("error_description") or params["error"]
        raise AuthError(
            f"{vendor} gaf geen toegang: {reason}",
            advice="Start de autorisatie opnieuw, log in met een account dat toegang heeft tot de"
            " administratie en kies Toestaan (Allow).",
            code=params["error"],
        )
    if params.get("state") != state:
        raise AuthError(
            "Het geplakte adres hoort niet bij deze autorisatie (state klopt niet)",
            advice="Plak het adres van de aanmelding die u zojuist met déze link startte, of start opnieuw.",
            code="STATE",
        )
    code = params.get("code", "")
    if not code:
        raise AuthError(
            "Het geplakte adres bevat geen code",
            advice="Plak het volledige adres uit de adresbalk van de browser, na Toestaan.",
        )
    return code
