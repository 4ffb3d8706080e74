"""Where Koppelaar keeps its files: koppelaar.toml, koppelaar.db and the encrypted secrets."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def locate(cls, explicit: str | None = None) -> Home:
        chosen = explicit or os.environ.get("KOPPELAAR_HOME") or str(Path.home() / ".koppelaar")
        return cls(Path(chosen).expanduser().resolve())

    @property
    def config(self) -> Path:
        return self.root / "koppelaar.toml"

    @property
    def database(self) -> Path:
        return self.root / "koppelaar.db"

    def ensure(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
