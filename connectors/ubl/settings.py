"""[connections.NAME] for system = "ubl-inbox" in koppelaar.toml."""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Literal

from pydantic import field_validator

from connectors.spec import ConnectionSettings


class UblInboxConnection(ConnectionSettings):
    system: Literal["ubl-inbox"] = "ubl-inbox"
    path: str = ""  # the folder an access point (or a person) drops UBL files into
    # Optional: a sub-folder of `path` for this administratie (one inbox folder, one sub-folder each).
    subfolder: str = ""
    # A file modified less than this many seconds ago is still being written: the next run reads it.
    settle_seconds: float = 5.0

    @field_validator("subfolder")
    @classmethod
    def _inside_the_inbox(cls, value: str) -> str:
        # Joined to `path`: an absolute path or '..' would read (and archive) another folder entirely.
        parts = PurePath(value).parts
        if value and (PurePath(value).is_absolute() or ".." in parts or len(parts) != 1):
            raise ValueError("subfolder is één mapnaam binnen path (geen pad, geen '..')")
        return value

    @property
    def folder(self) -> Path:
        return (
            Path(self.path).expanduser() / self.subfolder if self.subfolder else Path(self.path).expanduser()
        )
