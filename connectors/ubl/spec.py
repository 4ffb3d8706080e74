"""The UBL e-invoice inbox as the rest of Koppelaar sees it: a folder, no login, a builder."""

from __future__ import annotations

from connectors.contract import Source
from connectors.spec import AuthKind, BuildContext, ConnectorSpec, LoginField, Step
from connectors.ubl.inbox import UblInbox
from connectors.ubl.settings import UblInboxConnection

# The folder is asked like a login (kept in koppelaar.toml); the check says whether Koppelaar may write
# there and how many documents wait. Nothing is secret.
_FOLDER = LoginField("path", "Map van de inbox")


def _build(name: str, settings: UblInboxConnection, context: BuildContext) -> Source:
    return UblInbox(settings.folder, settle_seconds=settings.settle_seconds)


SPEC = ConnectorSpec(
    system="ubl-inbox",
    label="UBL-inbox (Peppol)",
    settings=UblInboxConnection,
    auth=AuthKind.NONE,
    secrets=lambda settings: (),
    build_source=_build,
    login=lambda settings: _FOLDER,
    where=lambda settings: (
        "De map waarin uw Peppol-accesspoint (of uzelf) de UBL-e-facturen zet. Geboekte facturen gaan naar"
        " archief/<jaar>/<maand>/, geweigerde naar quarantaine/; niets wordt verwijderd."
    ),
    intro="Kies de map waaruit Koppelaar uw inkoopfacturen (UBL: Peppol BIS 3, SI-UBL 2.0, UBL.BE) leest.",
    steps=(Step.ASK, Step.CHECK),
    relation_prefix="UBL",
)
