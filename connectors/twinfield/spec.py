"""Twinfield as the rest of Koppelaar sees it: settings, secrets, "Autoriseer applicatie", a builder."""

from __future__ import annotations

import math
from typing import cast

from pydantic import SecretStr

from connectors.contract import BookingTarget
from connectors.oauth import TokenProvider
from connectors.spec import AuthKind, BuildContext, ConnectorSpec, OAuthSpec, SecretField, Step, Welcome
from connectors.twinfield.auth import LOGIN_URL, TwinfieldOAuth
from connectors.twinfield.settings import TwinfieldConnection
from connectors.twinfield.target import Twinfield

# Twinfield accepts a refresh at any moment (Exact does not).
REFRESH_WINDOW = math.inf


def _client(settings: TwinfieldConnection, secret: SecretStr) -> TwinfieldOAuth:
    return TwinfieldOAuth(
        settings.client_id, secret, settings.redirect_uri, login_url=settings.login_url or LOGIN_URL
    )


def _host(settings: TwinfieldConnection) -> str:
    return (settings.login_url or LOGIN_URL).rstrip("/")


def _build(name: str, settings: TwinfieldConnection, context: BuildContext) -> BookingTarget:
    oauth = _client(settings, context.secret("client_secret"))
    return Twinfield(  # Twinfield closes its OAuth client itself
        oauth,
        context.tokens(oauth.refresh, refresh_window=REFRESH_WINDOW),
        office=settings.office,
        sales_journal=settings.sales_journal,
        purchase_journal=settings.purchase_journal,
        debiteuren_rekening=settings.debiteuren_rekening,
        crediteuren_rekening=settings.crediteuren_rekening,
        destiny=settings.destiny,
        autobalance_vat=settings.autobalance_vat,
    )


def _discovery(
    settings: TwinfieldConnection, secret: SecretStr, tokens: TokenProvider, administratie: str
) -> BookingTarget:
    return Twinfield(_client(settings, secret), tokens, office=administratie)


async def _welcome(target: BookingTarget, settings: TwinfieldConnection) -> Welcome:
    twinfield = cast(Twinfield, target)
    administraties = await twinfield.administraties()
    info = twinfield.token_info
    organisation = f", organisatie {info.organisation_code}" if info and info.organisation_code else ""
    return Welcome(administraties, "", "Geautoriseerd bij Twinfield" + organisation)


SPEC = ConnectorSpec(
    system="twinfield",
    label="Twinfield",
    settings=TwinfieldConnection,
    auth=AuthKind.OAUTH,
    secrets=lambda settings: (SecretField("client_secret", "Client secret"),),
    build_target=_build,
    steps=(Step.ASK, Step.AUTHORISE, Step.ADMINISTRATIE, Step.DAGBOEKEN, Step.TEGENREKENINGEN),
    oauth=OAuthSpec(
        client=_client,
        refresh_window=REFRESH_WINDOW,
        refresh_idle_expiry=None,  # documented as valid for 25 years
        host=_host,
        discovery=_discovery,
        welcome=_welcome,
        where=(
            "Client ID en Client secret staan bij de app in het Twinfield developer portal "
            "(https://developers.twinfield.com/); de Redirect URI van de app moet gelijk zijn aan die in "
            "koppelaar.toml."
        ),
    ),
)
