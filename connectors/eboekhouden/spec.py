"""e-Boekhouden.nl as the rest of Koppelaar sees it: settings, secrets, the connect dialog, a builder."""

from __future__ import annotations

from connectors.contract import BookingTarget, RateLimit
from connectors.eboekhouden.rest import EBoekhoudenRest
from connectors.eboekhouden.settings import EBoekhoudenConnection
from connectors.eboekhouden.soap import EBoekhoudenSoap
from connectors.spec import AuthKind, BuildContext, ConnectorSpec, LoginField, SecretField, Step

_API_TOKEN = (SecretField("api_token", "API-token"),)
_SOAP_CODES = (
    SecretField("beveiligingscode_1", "Beveiligingscode 1"),
    SecretField("beveiligingscode_2", "Beveiligingscode 2"),
)

# Where the admin finds the credentials in e-Boekhouden's own screens, in its words.
_WHERE_SOAP = "U vindt ze in e-Boekhouden.nl via Beheer > Instellingen > Koppelingen > API/SOAP."
_WHERE_REST = "Maak een API-token aan in e-Boekhouden.nl via Beheer → Inrichting → Koppelingen → API."


def _secrets(settings: EBoekhoudenConnection) -> tuple[SecretField, ...]:
    return _API_TOKEN if settings.api == "rest" else _SOAP_CODES


def _login(settings: EBoekhoudenConnection) -> LoginField | None:
    # The REST API token alone identifies the user; SOAP logs in with a Gebruikersnaam.
    return None if settings.api == "rest" else LoginField("username", "Gebruikersnaam")


def _where(settings: EBoekhoudenConnection) -> str:
    return _WHERE_REST if settings.api == "rest" else _WHERE_SOAP


def _build(name: str, settings: EBoekhoudenConnection, context: BuildContext) -> BookingTarget:
    limit = RateLimit(settings.rate_limit_per_second, settings.max_concurrency)
    if settings.api == "rest":
        return EBoekhoudenRest(
            context.secret("api_token"),
            country=settings.country,
            base_url=settings.base_url or None,
            administratie=settings.administratie,
            debiteuren_rekening=settings.debiteuren_rekening,
            crediteuren_rekening=settings.crediteuren_rekening,
            rate_limit=limit,
        )
    return EBoekhoudenSoap(
        settings.username,
        context.secret("beveiligingscode_1"),
        context.secret("beveiligingscode_2"),
        country=settings.country,
        base_url=settings.base_url,
        administratie=settings.administratie,
        debiteuren_rekening=settings.debiteuren_rekening,
        crediteuren_rekening=settings.crediteuren_rekening,
        rate_limit=limit,
    )


SPEC = ConnectorSpec(
    system="eboekhouden",
    label="e-Boekhouden.nl",
    settings=EBoekhoudenConnection,
    auth=AuthKind.CREDENTIALS,
    secrets=_secrets,
    build_target=_build,
    login=_login,
    where=_where,
    intro=(
        "Vul hieronder uw inloggegevens in van e-Boekhouden.nl. Deze gebruiken we om verbinding te maken "
        "met uw e-Boekhouden.nl administratie."
    ),
    steps=(Step.ASK, Step.CHECK, Step.ADMINISTRATIE, Step.TEGENREKENINGEN),
    ledger_hint=(
        "U vindt de standaard grootboekrekeningen in e-Boekhouden.nl via Beheer > Inrichting > "
        "Grootboekrekeningen."
    ),
)
