"""Where Koppelaar keeps its files: koppelaar.toml, koppelaar.db and the encrypted secrets.

The key to the encrypted secrets lives outside the home by default, so that whoever can read the home
(a backup, a shared disk, a careless chmod) cannot also decrypt what is in it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

KEY_DIR_ENV = "KOPPELAAR_KEY_DIR"
# Where homes made before the key moved out keep it; still used while it is there (status warns).
KEY_BESIDE_SECRETS = "secrets.key"


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


def key_directory(env: Mapping[str, str] = os.environ) -> Path:
    """`$KOPPELAAR_KEY_DIR`, else `$XDG_CONFIG_HOME/koppelaar`, else `~/.config/koppelaar`."""
    explicit = env.get(KEY_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser().resolve()
    config = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config).expanduser().resolve() / "koppelaar"


def default_key_file(home: Path, env: Mapping[str, str] = os.environ) -> Path:
    """The home's own key file in the key directory, named after the home's absolute path so that
    two homes of one user never share a key."""
    digest = hashlib.sha256(str(home.expanduser().resolve()).encode("utf-8")).hexdigest()[:16]
    return key_directory(env) / f"{digest}.key"
