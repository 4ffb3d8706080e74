"""AFAS Profit as the rest of Koppelaar sees it: one organisation per connection, its token, a builder."""

from __future__ import annotations

from connectors.afas.settings import AfasConnection
from connectors.afas.target import Afas
from connectors.contract import BookingTarget, RateLimit
from connectors.spec import AuthKind, BuildContext, ConnectorSpec, SecretField, Step


def _build(name: str, settings: AfasConnection, context: BuildContext) -> BookingTarget:
    return Afas(
        settings.url(),
        context.secret("token"),
        administratie=settings.administratie,
        verkoopboek=settings.verkoopboek,
        inkoopboek=settings.inkoopboek,
        integration_id=settings.integration_id,
        dossieritemtype=settings.dossieritemtype,
        rate_limit=RateLimit(settings.rate_limit_per_second, settings.max_concurrency),
    )


def _where(settings: AfasConnection) -> str:
    return (
        "Maak het token aan in AFAS: Algemeen → App Connector → (uw App Connector) → Gebruikerstokens → Nieuw; "
        "kopieer de tokenwaarde (de hele <token>…</token> of alleen het data-deel). Elke AFAS-organisatie "
        "vereist een afzonderlijk token: maak per organisatie een eigen verbinding."
    )


SPEC = ConnectorSpec(
    system="afas",
    label="AFAS Profit",
    settings=AfasConnection,
    auth=AuthKind.CREDENTIALS,
    secrets=lambda settings: (SecretField("token", "AFAS-token (gebruikerstoken)"),),
    build_target=_build,
    where=_where,
    intro=(
        "Een app-connector is een bundel van GetConnectors, UpdateConnectors en speciale connectoren. "
        "Vul het gebruikerstoken in van de App Connector die u voor Koppelaar in uw AFAS-omgeving "
        "(organisatie) heeft aangemaakt."
    ),
    steps=(Step.ASK, Step.CHECK, Step.ADMINISTRATIE, Step.DAGBOEKEN, Step.TEGENREKENINGEN),
    ledger_hint="U vindt de grootboekrekeningen in AFAS via Financieel → Inrichting → Grootboekrekeningen.",
)
