"""AccountView as the rest of Koppelaar sees it: settings, secrets, "Autoriseer applicatie", a builder."""

from __future__ import annotations

import math
from typing import cast

from pydantic import SecretStr

from connectors.accountview.oauth import HOST, AccountViewOAuth
from connectors.accountview.settings import AccountViewConnection
from connectors.accountview.target import AccountView
from connectors.contract import BookingTarget, RateLimit
from connectors.errors import AuthError
from connectors.oauth import TokenProvider
from connectors.spec import AuthKind, BuildContext, ConnectorSpec, OAuthSpec, SecretField, Step, Welcome

# No refusal of an early refresh is known: the vault may refresh whenever a token runs out.
REFRESH_WINDOW = math.inf


def _client(settings: AccountViewConnection, secret: SecretStr) -> AccountViewOAuth:
    return AccountViewOAuth(
        settings.client_id, secret, settings.redirect_uri, base_url=settings.base_url or None
    )


def _host(settings: AccountViewConnection) -> str:
    return (settings.base_url or HOST).rstrip("/")


def _build(name: str, settings: AccountViewConnection, context: BuildContext) -> BookingTarget:
    oauth = _client(settings, context.secret("client_secret"))
    context.on_close(oauth.aclose)
    return AccountView(
        context.tokens(oauth.refresh, refresh_window=REFRESH_WINDOW),
        company=settings.company,
        base_url=settings.base_url or None,
        sales_journal=settings.verkoopboek,
        purchase_journal=settings.inkoopboek,
        debtors_account=settings.debiteuren,
        creditors_account=settings.crediteuren,
        rate_limit=RateLimit(settings.rate_limit_per_second, settings.max_concurrency),
    )


def _discovery(
    settings: AccountViewConnection, secret: SecretStr, tokens: TokenProvider, administratie: str
) -> BookingTarget:
    return AccountView(tokens, company=administratie, base_url=settings.base_url or None)


async def _welcome(target: BookingTarget, settings: AccountViewConnection) -> Welcome:
    accountview = cast(AccountView, target)
    administraties = await accountview.administraties()  # the call every authorization may make
    current = settings.company if settings.company in {a.id for a in administraties} else ""
    if not current and len(administraties) == 1:
        current = administraties[0].id
    if not administraties:
        raise AuthError(
            "Deze AccountView-gebruiker heeft geen administraties",
            advice="Autoriseer met een gebruiker die toegang heeft tot de administratie (bij een lokale "
            "installatie: met de AccountView.Net-plugin).",
        )
    return Welcome(administraties, current, f"Geautoriseerd bij AccountView ({_host(settings)})")


SPEC = ConnectorSpec(
    system="accountview",
    label="AccountView",
    settings=AccountViewConnection,
    auth=AuthKind.OAUTH,
    secrets=lambda settings: (SecretField("client_secret", "Client secret"),),
    build_target=_build,
    intro=(
        "Koppel een AccountView-administratie via AccountView.Net: maak een app aan onder Ontwikkelaar, "
        "autoriseer de applicatie en kies de administratie, de dagboeken en de tegenrekeningen."
    ),
    steps=(Step.ASK, Step.AUTHORISE, Step.ADMINISTRATIE, Step.DAGBOEKEN, Step.TEGENREKENINGEN),
    ledger_hint="AccountView: Bestand → Administratie-instellingen → Grootboekrekeningen",
    oauth=OAuthSpec(
        client=_client,
        refresh_window=REFRESH_WINDOW,
        refresh_idle_expiry=None,  # not documented
        host=_host,
        discovery=_discovery,
        welcome=_welcome,
        where=(
            "Registreer de app op accountview.net onder Ontwikkelaar: daar staan de API-sleutel (Client ID) "
            "en het Client secret. De Redirect URI van de app moet gelijk zijn aan die in koppelaar.toml; "
            "om alle klanten te bereiken staat de app op 'Toegankelijk voor alle Visma klanten'."
        ),
        administratie_label="Bedrijf (X-Company)",
    ),
)
