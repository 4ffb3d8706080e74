"""[connections.NAME] for system = "afas" in koppelaar.toml: one AFAS organisation (environment) each."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field

from connectors.spec import ConnectionSettings

Soort = Literal["productie", "test", "accept"]

# AFAS writes an environment as O12345AA (productie), T12345AA (test) or A12345AA (accept).
_CODE = re.compile(r"^\s*([OTA])(\d{5})([A-Z]{2})\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*(\d{5})\s*$")
_SOORT_OF_LETTER: dict[str, Soort] = {"O": "productie", "T": "test", "A": "accept"}
_HOST_PART: dict[Soort, str] = {"productie": "rest", "test": "resttest", "accept": "restaccept"}


def environment(code: str, soort: Soort = "productie") -> tuple[str, Soort]:
    """(environment number, kind) of `O12345AA`-style codes or a bare 12345 (then `soort` says the kind)."""
    if match := _CODE.match(code):
        return match.group(2), _SOORT_OF_LETTER[match.group(1).upper()]
    if match := _NUMBER.match(code):
        return match.group(1), soort
    raise ValueError(
        f"'{code}' is geen AFAS-omgeving: verwacht een code als O12345AA (productie), T12345AA (test), "
        "A12345AA (accept) of het omgevingsnummer (12345)"
    )


def base_url(code: str, soort: Soort = "productie") -> str:
    number, kind = environment(code, soort)
    return f"https://{number}.{_HOST_PART[kind]}.afas.online/ProfitRestServices"


class AfasConnection(ConnectionSettings):
    system: Literal["afas"] = "afas"
    omgeving: str = ""  # O12345AA, T12345AA, A12345AA or 12345; the token is a secret
    soort: Soort = "productie"  # only read when `omgeving` is a bare number
    base_url: str = ""  # empty: the host of `omgeving` (the sandbox sets its own)
    integration_id: str = ""  # IntegrationId header of a certified partner integration ("" = none)
    administratie: str = ""  # UnId, chosen at connect time
    verkoopboek: str = ""  # JoCo of the verkoopboek
    inkoopboek: str = ""
    # Dossier-item type (StId) for an invoice's PDF; 0: no attachments are sent.
    dossieritemtype: int = Field(default=0, ge=0)
    rate_limit_per_second: float = Field(default=20.0, gt=0)
    # AFAS allows at most 5 calls in parallel per environment.
    max_concurrency: int = Field(default=5, ge=1, le=5)

    ADMINISTRATIE_KEY: ClassVar[str] = "administratie"
    JOURNAL_KEYS: ClassVar[dict[str, str]] = {"verkoop": "verkoopboek", "inkoop": "inkoopboek"}

    def url(self) -> str:
        return self.base_url.rstrip("/") if self.base_url else base_url(self.omgeving, self.soort)
