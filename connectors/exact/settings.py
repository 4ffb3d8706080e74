"""[connections.NAME] for system = "exact" in koppelaar.toml."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from connectors.spec import OAuthSettings


class ExactConnection(OAuthSettings):
    system: Literal["exact"] = "exact"
    country: Literal["NL", "BE"] = "NL"  # start.exactonline.nl or .be: tokens of one fail on the other
    base_url: str = ""  # empty: the vendor's host for `country`
    division: int | None = None  # "Divisie code"; empty: the user's current division
    verkoopboek: str = "70"
    inkoopboek: str = "60"
    # Exact allows 60 calls a minute per division.
    rate_limit_per_second: float = Field(default=1.0, gt=0)
    max_concurrency: int = Field(default=2, ge=1, le=8)

    ADMINISTRATIE_KEY: ClassVar[str] = "division"
    JOURNAL_KEYS: ClassVar[dict[str, str]] = {"verkoop": "verkoopboek", "inkoop": "inkoopboek"}

    def administratie_update(self, administratie: str) -> dict[str, str | int]:
        # The division is a number, and tokens are valid on the host of the country they were made on.
        return {"country": self.country, "division": int(administratie)}
