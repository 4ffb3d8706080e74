"""A secret sentinel never appears in config, database, logs, command output or foutmelding details."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from state.config import ConfigFile
from state.secrets import open_secret_store
from state.settings import AppSettings, SecretBackendName
from tests.world import sandbox_world

FS_KEY = "fs-key-SENTINEL-5e1c0f2a"
EB_TOKEN = "eb-token-SENTINEL-93b7d2c4"
SENTINELS = (FS_KEY, EB_TOKEN, "SENTINEL")


async def test_secrets_stay_out_of_everything_a_person_or_a_log_can_see(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with sandbox_world(tmp_path, api="rest", invoices=20) as world:
        world.fs.add_user("bakkerij", FS_KEY)
        world.eb.add_api_token(EB_TOKEN)
        config = ConfigFile.open(world.home.config)
        config.set(("connections", "factuursturen", "username"), "bakkerij")
        config.save()
        secrets = open_secret_store(AppSettings(secret_backend=SecretBackendName.FILE), world.home.root)
        secrets.set("factuursturen:api_key", SecretStr(FS_KEY))
        secrets.set("boekhouding:api_token", SecretStr(EB_TOKEN))

        # A run with trouble: a lost response, a malformed body, a closed period, then a revoked token.
        world.fail_creates("lost_response", times=1)
        world.eb.close_period("2025-11-30")
        world.fs.faults.add(method="GET", path="/api/v1/clients", kind="malformed", times=1)
        await world.run()
        world.eb.revoke_token(EB_TOKEN)
        await world.run()

        outputs = [
            subprocess.run(
                [sys.executable, "-m", "tui.cli", "--home", str(world.home.root), *args],
                capture_output=True,
                text=True,
                timeout=120,
            )
            for args in (
                ["run", "facturen"],
                ["status"],
                ["status", "--json"],
                ["errors", "facturen", "--all"],
            )
        ]
        store = world.store()
        problems = store.foutmeldingen("facturen", status=None)
        details = [record for p in problems for record in store.problem_records(p.id)]
        store.close()

        assert problems, "the scenario must produce foutmeldingen to inspect"
        assert any(exchange for _, _, exchange in details), "foutmeldingen carry the redacted exchange"
        seen: dict[str, str] = {}
        for path in world.home.root.rglob("*"):
            if path.is_file():
                seen[f"file {path.name}"] = path.read_bytes().decode("latin-1")
        for result in outputs:
            seen[f"output of {result.args[4:]}"] = result.stdout + result.stderr
        seen["logs"] = "\n".join(record.getMessage() for record in caplog.records)
        seen["foutmeldingen"] = "\n".join(f"{p.title} {p.advice}" for p in problems)
        seen["records"] = "\n".join(" ".join(record) for record in details)
        for where, text in seen.items():
            for sentinel in SENTINELS:
                assert sentinel not in text, f"secret found in {where}"
