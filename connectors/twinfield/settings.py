"""[connections.NAME] for system = "twinfield" in koppelaar.toml."""

from __future__ import annotations

from typing import ClassVar, Literal

from connectors.spec import OAuthSettings


class TwinfieldConnection(OAuthSettings):
    system: Literal["twinfield"] = "twinfield"
    login_url: str = ""  # empty: https://login.twinfield.com
    office: str = ""  # the administratie (company code)
    sales_journal: str = "VRK"
    purchase_journal: str = "INK"
    debiteuren_rekening: str = "1300"
    crediteuren_rekening: str = "1600"
    destiny: Literal["temporary", "final"] = "temporary"  # concept bookings unless told otherwise
    autobalance_vat: bool = False

    ADMINISTRATIE_KEY: ClassVar[str] = "office"
    # Twinfield names its dagboek settings in English.
    JOURNAL_KEYS: ClassVar[dict[str, str]] = {"verkoop": "sales_journal", "inkoop": "purchase_journal"}
