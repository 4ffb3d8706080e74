"""[connections.NAME] for system = "ubl-inbox" in koppelaar.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from connectors.spec import ConnectionSettings


class UblInboxConnection(ConnectionSettings):
    system: Literal["ubl-inbox"] = "ubl-inbox"
    path: str = ""  # the folder an access point (or a person) drops UBL files into
    # Optional: a sub-folder of `path` for this administratie (one inbox folder, one sub-folder each).
    subfolder: str = ""
    # A file modified less than this many seconds ago is still being written: the next run reads it.
    settle_seconds: float = 5.0

    @property
    def folder(self) -> Path:
        return (
            Path(self.path).expanduser() / self.subfolder if self.subfolder else Path(self.path).expanduser()
        )
