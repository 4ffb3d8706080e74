"""[connections.NAME] for system = "eboekhouden" in koppelaar.toml."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from connectors.spec import ConnectionSettings


class EBoekhoudenConnection(ConnectionSettings):
    system: Literal["eboekhouden"] = "eboekhouden"
    api: Literal["rest", "soap"] = "soap"
    country: Literal["NL", "BE"] = "NL"
    base_url: str = ""  # empty: the vendor's host for `api` and `country`
    username: str = ""  # SOAP Gebruikersnaam; Beveiligingscode 1 and 2 (or the REST API token) are secrets
    administratie: str = ""  # chosen at connect time
    debiteuren_rekening: str = "1300"
    crediteuren_rekening: str = "1600"
    # e-Boekhouden publishes no quota; stay polite by default, raise for the sandbox benchmark.
    rate_limit_per_second: float = Field(default=5.0, gt=0)
    max_concurrency: int = Field(default=4, ge=1, le=64)

    ADMINISTRATIE_KEY: ClassVar[str] = "administratie"
