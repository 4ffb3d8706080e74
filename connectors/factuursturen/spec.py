"""FactuurSturen.nl as the rest of Koppelaar sees it: settings, secrets, the connect dialog, a builder."""

from __future__ import annotations

from connectors.contract import Source
from connectors.factuursturen.settings import FactuurSturenConnection
from connectors.factuursturen.source import FactuurSturenSource
from connectors.spec import AuthKind, BuildContext, ConnectorSpec, LoginField, SecretField, Step

_SECRETS = (SecretField("api_key", "API-sleutel"),)
_LOGIN = LoginField("username", "Loginnaam")


def _build(name: str, settings: FactuurSturenConnection, context: BuildContext) -> Source:
    return FactuurSturenSource(settings.username, context.secret("api_key"), base_url=settings.base_url)


SPEC = ConnectorSpec(
    system="factuursturen",
    label="FactuurSturen.nl",
    settings=FactuurSturenConnection,
    auth=AuthKind.CREDENTIALS,
    secrets=lambda settings: _SECRETS,
    build_source=_build,
    login=lambda settings: _LOGIN,
    where=lambda settings: (
        'Maak een API-sleutel aan in FactuurSturen.nl via Instellingen → Verbindingen → "Maak API sleutel".'
    ),
    intro=(
        "Vul hieronder uw API-gegevens in van FactuurSturen.nl. Deze gebruiken we om uw facturen op te halen."
    ),
    steps=(Step.ASK, Step.CHECK),
    relation_prefix="FS",
)
