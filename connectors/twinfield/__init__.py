"""Twinfield (Wolters Kluwer) as a booking target: OAuth2/OpenID Connect, ProcessXml over SOAP."""

from connectors.twinfield.auth import (
    SCOPES,
    AccessTokens,
    RefreshingTokens,
    TokenInfo,
    TwinfieldOAuth,
)
from connectors.twinfield.target import Daybook, Twinfield

__all__ = [
    "SCOPES",
    "AccessTokens",
    "Daybook",
    "RefreshingTokens",
    "TokenInfo",
    "Twinfield",
    "TwinfieldOAuth",
]
