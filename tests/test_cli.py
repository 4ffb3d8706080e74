"""The koppelaar command as an admin and a monitoring script use it: exit codes, messages, connect."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sandbox import seed
from state.store import Store
from tests.world import World, sandbox_world
from tui.cli import connect, main


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with sandbox_world(tmp_path, api="rest", invoices=12) as w:
        yield w


def koppelaar(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "--home", str(world.home.root), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_run_exits_0_when_everything_is_booked_and_1_when_records_are_parked(world: World) -> None:
    done = koppelaar(world, "run", "facturen")
    assert done.returncode == 0, done.stderr
    assert "geboekt" in done.stdout

    client = world.fs.add_client("Drukkerij Van Dam B.V.").clientnr
    world.fs.add_invoice(client, [(1, "250.00", 7, "Drukwerk")], sent="2026-01-20")
    parked = koppelaar(world, "run", "facturen")
    assert parked.returncode == 1
    errors = koppelaar(world, "errors", "facturen")
    assert errors.returncode == 1
    assert "Foutmeldingen (1)" in errors.stdout and "7%" in errors.stdout and "Wat te doen" in errors.stdout


def test_run_exits_2_when_the_target_rejects_the_credentials(world: World) -> None:
    world.eb.revoke_token(seed.EB_API_TOKEN)
    result = koppelaar(world, "run", "facturen")
    assert result.returncode == 2
    assert "API-token" in result.stdout


def test_errors_of_a_revoked_token_say_where_to_reconnect(world: World) -> None:
    world.eb.revoke_token(seed.EB_API_TOKEN)
    assert koppelaar(world, "run", "facturen").returncode == 2
    errors = koppelaar(world, "errors", "facturen")
    assert "koppelaar connect boekhouding" in errors.stdout, errors.stdout
    assert "hier in" not in errors.stdout


def test_status_and_errors_speak_local_time_and_dutch_states(world: World) -> None:
    """The CLI mixed UTC ('12:55:06+00:00') with local time and printed 'partial'; --json keeps ISO UTC."""
    client = world.fs.add_client("Drukkerij Van Dam B.V.").clientnr
    world.fs.add_invoice(client, [(1, "250.00", 7, "Drukwerk")], sent="2026-01-20")
    assert koppelaar(world, "run", "facturen").returncode == 1
    [run] = world.store().runs("facturen", limit=1)
    local = datetime.fromisoformat(run.started_at).astimezone(ZoneInfo("Europe/Amsterdam"))

    status = koppelaar(world, "status").stdout
    assert f"laatste run: {local:%Y-%m-%d %H:%M} gedeeltelijk" in status, status
    assert "+00:00" not in status and "partial" not in status
    errors = koppelaar(world, "errors", "facturen").stdout
    assert "+00:00" not in errors and f"laatst {local:%Y-%m-%d}" in errors, errors
    machine = json.loads(koppelaar(world, "status", "--json").stdout)
    assert machine["koppelingen"][0]["last_run_at"] == run.started_at


def test_run_exits_4_while_another_process_runs_the_koppeling(world: World) -> None:
    store = Store(world.home.database)
    assert store.acquire_lease("run:facturen", "another-run", 300)
    result = koppelaar(world, "run", "facturen")
    assert result.returncode == 4
    assert "draait al" in result.stdout


def test_a_broken_config_file_exits_3_with_line_and_column_and_is_left_alone(world: World) -> None:
    text = world.home.config.read_text()
    broken = text.replace('schedule = "15 3 * * *"', 'schedule = "15 3 * * *', 1)
    world.home.config.write_text(broken)

    result = koppelaar(world, "status")

    assert result.returncode == 3
    assert "koppelaar.toml" in result.stderr and "regel" in result.stderr and "kolom" in result.stderr
    assert world.home.config.read_text() == broken


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("x = " + "[" * 600 + "]" * 600 + "\n", "te diep genest"),
        ("# " + "x" * 2_000_000 + "\n", "groter dan"),
    ],
)
def test_a_deeply_nested_or_huge_config_exits_3_with_a_clear_message(
    world: World, extra: str, words: str
) -> None:
    world.home.config.write_text(extra + world.home.config.read_text())

    result = koppelaar(world, "status")

    assert result.returncode == 3, result.stderr[-500:]
    assert words in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) <= 3


def test_an_unknown_koppeling_exits_3_and_lists_the_known_ones(world: World) -> None:
    result = koppelaar(world, "run", "factuur")
    assert result.returncode == 3
    assert "facturen" in result.stderr


def test_status_json_reports_each_koppeling_for_monitoring(world: World) -> None:
    assert main(["--home", str(world.home.root), "run", "facturen"]) == 0
    result = koppelaar(world, "status", "--json")
    data = json.loads(result.stdout)
    [row] = data["koppelingen"]
    assert (row["name"], row["state"], row["open_foutmeldingen"]) == ("facturen", "Actief", 0)
    assert row["last_run_status"] == "ok" and row["next_run_at"].endswith("03:15+01:00")


def test_dry_run_prints_what_would_be_booked(world: World) -> None:
    result = koppelaar(world, "run", "facturen", "--dry-run")
    assert result.returncode == 0
    assert "zou boeken" in result.stdout and "tegenrekening 8000" in result.stdout
    assert world.eb.mutations == []


def test_disconnect_asks_for_confirmation_and_then_says_niet_verbonden(world: World) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "tui.cli", "--home", str(world.home.root), "disconnect", "boekhouding"],
        input="nee\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Niets veranderd" in refused.stdout
    done = koppelaar(world, "disconnect", "boekhouding", "--yes")
    assert done.returncode == 0
    status = json.loads(koppelaar(world, "status", "--json").stdout)
    assert status["koppelingen"][0]["state"] == "Niet verbonden"


def scripted(answers: list[str]) -> tuple[list[str], object]:
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return answers.pop(0)

    return asked, ask


async def test_connect_follows_the_seed_steps_and_saves_nothing_when_the_codes_are_wrong(
    tmp_path: Path,
) -> None:
    with sandbox_world(tmp_path, api="soap", invoices=0) as world:
        world.home.config.write_text("# beheerd door de IT-afdeling\n" + world.home.config.read_text())
        secrets_before = (world.home.root / "secrets.enc").read_bytes()

        asked, ask = scripted(["demo"])
        _, ask_secret = scripted(["FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", seed.EB_SOAP_CODE2])
        assert await connect(world.home, "boekhouding", ask, ask_secret) == 2  # type: ignore[arg-type]
        assert (world.home.root / "secrets.enc").read_bytes() == secrets_before

        asked, ask = scripted(["demo", "1", "", ""])
        secret_prompts, ask_secret = scripted([seed.EB_SOAP_CODE1, seed.EB_SOAP_CODE2])
        assert await connect(world.home, "boekhouding", ask, ask_secret) == 0  # type: ignore[arg-type]
        assert secret_prompts == ["Beveiligingscode 1: ", "Beveiligingscode 2: "]
        assert asked[0].startswith("Gebruikersnaam")
        assert any("Administratie" in a or "Kies" in a for a in asked)
        text = world.home.config.read_text()
        assert text.startswith("# beheerd door de IT-afdeling\n")
        assert seed.EB_SOAP_CODE1 not in text and seed.EB_SOAP_CODE2 not in text
