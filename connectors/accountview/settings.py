"""[connections.NAME] for system = "accountview" in koppelaar.toml."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from connectors.spec import OAuthSettings


class AccountViewConnection(OAuthSettings):
    system: Literal["accountview"] = "accountview"
    base_url: str = ""  # empty: https://www.accountview.net (one host for every customer)
    company: str = ""  # the administratie's Id from /api/v3/companies, sent as X-Company
    verkoopboek: str = "VK"
    inkoopboek: str = "IK"
    # The collective accounts (verzamelrekeningen) the debtor and creditor side of an entry is booked on.
    debiteuren: str = "1300"
    crediteuren: str = "1600"
    # Rate limits are not documented: one request in flight per administratie, a modest pace.
    rate_limit_per_second: float = Field(default=5.0, gt=0)
    max_concurrency: int = Field(default=1, ge=1, le=4)

    ADMINISTRATIE_KEY: ClassVar[str] = "company"
    JOURNAL_KEYS: ClassVar[dict[str, str]] = {"verkoop": "verkoopboek", "inkoop": "inkoopboek"}
