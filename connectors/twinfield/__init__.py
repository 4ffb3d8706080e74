"""Twinfield (Wolters Kluwer) as a booking target: OAuth2/OpenID Connect, ProcessXml over SOAP."""

from connectors.twinfield.auth import (
    SCOPES,
    AccessTokens,
    RefreshingTokens,
    TokenInfo,
    TwinfieldOAuth,
)
from connectors.twinfield.settings import TwinfieldConnection
from connectors.twinfield.spec import SPEC
from connectors.twinfield.target import Daybook, Twinfield

__all__ = [
    "SCOPES",
    "SPEC",
    "AccessTokens",
    "Daybook",
    "RefreshingTokens",
    "TokenInfo",
    "Twinfield",
    "TwinfieldConnection",
    "TwinfieldOAuth",
]
