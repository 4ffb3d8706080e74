"""[connections.NAME] for system = "factuursturen" in koppelaar.toml."""

from __future__ import annotations

from typing import Literal

from connectors.spec import ConnectionSettings


class FactuurSturenConnection(ConnectionSettings):
    system: Literal["factuursturen"] = "factuursturen"
    base_url: str = "https://www.factuursturen.nl/api/v1/"
    username: str = ""  # the FactuurSturen login name; the API key is a secret
