"""Exact Online as the rest of Koppelaar sees it: settings, secrets, "Autoriseer applicatie", a builder."""

from __future__ import annotations

from typing import cast

from pydantic import SecretStr

from connectors.contract import BookingTarget, RateLimit
from connectors.errors import AuthError
from connectors.exact.oauth import HOSTS, ExactOAuth
from connectors.exact.settings import ExactConnection
from connectors.exact.target import ExactOnline
from connectors.oauth import TokenProvider
from connectors.spec import AuthKind, BuildContext, ConnectorSpec, OAuthSpec, SecretField, Step, Welcome

# Exact refuses a refresh until about 30 seconds before the access token expires.
REFRESH_WINDOW = 30.0


def _client(settings: ExactConnection, secret: SecretStr) -> ExactOAuth:
    return ExactOAuth(
        settings.client_id,
        secret,
        settings.redirect_uri,
        country=settings.country,
        base_url=settings.base_url or None,
    )


def _host(settings: ExactConnection) -> str:
    return (settings.base_url or HOSTS[settings.country]).rstrip("/")


def _build(name: str, settings: ExactConnection, context: BuildContext) -> BookingTarget:
    oauth = _client(settings, context.secret("client_secret"))
    context.on_close(oauth.aclose)
    return ExactOnline(
        context.tokens(oauth.refresh, refresh_window=REFRESH_WINDOW),
        division=settings.division,
        country=settings.country,
        base_url=settings.base_url or None,
        sales_journal=settings.verkoopboek,
        purchase_journal=settings.inkoopboek,
        rate_limit=RateLimit(settings.rate_limit_per_second, settings.max_concurrency),
    )


def _discovery(
    settings: ExactConnection, secret: SecretStr, tokens: TokenProvider, administratie: str
) -> BookingTarget:
    return ExactOnline(
        tokens,
        division=int(administratie) if administratie else None,
        country=settings.country,
        base_url=settings.base_url or None,
    )


async def _welcome(target: BookingTarget, settings: ExactConnection) -> Welcome:
    exact = cast(ExactOnline, target)
    check = await exact.check()
    if not check.ok:
        raise AuthError(check.reason, advice=check.advice)
    administraties = await exact.administraties()
    return Welcome(
        administraties, str(exact.division or ""), f"Geautoriseerd bij Exact Online ({_host(settings)})"
    )


SPEC = ConnectorSpec(
    system="exact",
    label="Exact Online",
    settings=ExactConnection,
    auth=AuthKind.OAUTH,
    secrets=lambda settings: (SecretField("client_secret", "Client secret"),),
    build_target=_build,
    steps=(Step.ASK, Step.AUTHORISE, Step.ADMINISTRATIE, Step.DAGBOEKEN, Step.TEGENREKENINGEN),
    oauth=OAuthSpec(
        client=_client,
        refresh_window=REFRESH_WINDOW,
        refresh_idle_expiry=30 * 86400.0,  # unused for 30 days (180 before 2021): a new login is needed
        host=_host,
        discovery=_discovery,
        welcome=_welcome,
        where=(
            "Maak een app aan (of open de bestaande) in het Exact App Center: https://apps.exactonline.com/ → "
            "Mijn apps beheren. Daar staan Client ID en Client secret; de Redirect URI van de app moet gelijk "
            "zijn aan die in koppelaar.toml."
        ),
        administratie_label="Divisie code",
        countries=(("NL", "Nederland"), ("BE", "België")),
    ),
)
