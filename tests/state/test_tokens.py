"""The token vault on its own: encryption at rest, single flight, race recovery, the refresh window,
Herautorisatie nodig, status for the console. A scripted token endpoint; a fake clock; no sleeping."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.errors import AuthError, TransientError
from connectors.oauth import InvalidGrant, RefreshTooEarly, TokenProvider, TokenResponse
from sandbox._util import FakeClock
from state.secrets import EnvStore, SecretStore
from state.store import MIGRATIONS
from state.tokens import ReauthorizationNeeded, TokenVault, vault_key

C = "exact"
THIRTY_DAYS = 30 * 86400.0  # how long Exact lets a refresh token live unused


class Endpoint:
    """A token endpoint that rotates: each refresh token works once."""

    def __init__(self) -> None:
        self.n = 1
        self.calls: list[str] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    def pair(self) -> TokenResponse:
        return TokenResponse(SecretStr(f"acc-SENTINEL-{self.n}"), SecretStr(f"ref-SENTINEL-{self.n}"), 600.0)

    async def __call__(self, refresh: SecretStr) -> TokenResponse:
        self.calls.append(refresh.get_secret_value())
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if refresh.get_secret_value() != f"ref-SENTINEL-{self.n}":
            raise InvalidGrant("Old refresh token used.")
        self.n += 1
        return self.pair()


class Sleeps:
    def __init__(self, clock: FakeClock) -> None:
        self.clock, self.waits = clock, list[float]()

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def endpoint() -> Endpoint:
    return Endpoint()


@pytest.fixture
def vault(tmp_path: Path, clock: FakeClock, endpoint: Endpoint) -> TokenVault:
    v = TokenVault(tmp_path / "k.db", b"k" * 32, clock=clock, sleep=Sleeps(clock))
    v.store_initial(C, endpoint.pair(), host="https://start.exactonline.nl", idle_expiry=THIRTY_DAYS)
    return v


async def token(vault: TokenVault, endpoint: Endpoint, *, force: bool = False) -> str:
    return (await vault.access_token(C, endpoint, force=force)).get_secret_value()


async def test_tokens_are_encrypted_at_rest_and_bound_to_their_row(tmp_path: Path, vault: TokenVault) -> None:
    data = b"".join(p.read_bytes() for p in tmp_path.glob("k.db*"))
    assert b"SENTINEL" not in data
    vault.close()
    wrong = TokenVault(tmp_path / "k.db", b"x" * 32)
    with pytest.raises(ReauthorizationNeeded, match="niet te ontsleutelen"):
        await wrong.access_token(C, Endpoint())
    # Swapping the encrypted access and refresh tokens is detected too (associated data).
    db = sqlite3.connect(tmp_path / "k.db")
    db.execute("UPDATE oauth_tokens SET access_enc = refresh_enc")
    db.commit()
    again = TokenVault(tmp_path / "k.db", b"k" * 32)
    with pytest.raises(ReauthorizationNeeded):
        await again.access_token(C, Endpoint())


async def test_fresh_token_is_used_without_a_refresh(
    vault: TokenVault, endpoint: Endpoint, clock: FakeClock
) -> None:
    assert await token(vault, endpoint) == "acc-SENTINEL-1"
    clock.advance(560)  # 40 s left: Exact would refuse a refresh, the current token still works
    assert await token(vault, endpoint) == "acc-SENTINEL-1"
    assert endpoint.calls == []
    clock.advance(15)
    assert await token(vault, endpoint) == "acc-SENTINEL-2"
    assert endpoint.calls == ["ref-SENTINEL-1"]


async def test_many_tasks_one_refresh(vault: TokenVault, endpoint: Endpoint, clock: FakeClock) -> None:
    clock.advance(600)
    endpoint.gate = asyncio.Event()
    tasks = [asyncio.create_task(token(vault, endpoint)) for _ in range(10)]
    await asyncio.wait_for(endpoint.entered.wait(), timeout=5)
    for _ in range(20):  # every other task gets its turns while the first refresh is held open
        await asyncio.sleep(0)
    assert not any(task.done() for task in tasks)
    assert endpoint.calls == ["ref-SENTINEL-1"]  # they wait for it rather than refresh themselves
    endpoint.gate.set()
    assert set(await asyncio.gather(*tasks)) == {"acc-SENTINEL-2"}
    assert endpoint.calls == ["ref-SENTINEL-1"]


async def test_two_vaults_on_one_database_share_the_rotation(
    tmp_path: Path, vault: TokenVault, endpoint: Endpoint, clock: FakeClock
) -> None:
    other = TokenVault(tmp_path / "k.db", b"k" * 32, clock=clock)  # another process, in effect
    clock.advance(580)
    assert await token(vault, endpoint) == "acc-SENTINEL-2"
    assert await token(other, endpoint) == "acc-SENTINEL-2"  # re-read, not refreshed again
    assert endpoint.calls == ["ref-SENTINEL-1"]


async def test_invalid_grant_after_someone_else_rotated_is_recovered(
    tmp_path: Path, vault: TokenVault, endpoint: Endpoint, clock: FakeClock
) -> None:
    other = TokenVault(tmp_path / "k.db", b"k" * 32, clock=clock)
    clock.advance(580)

    async def racing(refresh: SecretStr) -> TokenResponse:
        # Another process (which did not honour the lease, or whose lease expired) rotated first.
        other._persist(C, await endpoint(refresh))
        return await endpoint(refresh)  # ours is now an old token: invalid_grant

    assert (await vault.access_token(C, racing)).get_secret_value() == "acc-SENTINEL-2"
    status = vault.status(C)
    assert status is not None and status.state == "ok"


async def test_invalid_grant_with_nobody_rotating_needs_reauthorization(
    vault: TokenVault, endpoint: Endpoint, clock: FakeClock
) -> None:
    endpoint.n = 5  # the stored refresh token is no longer the vendor's current one
    clock.advance(600)
    with pytest.raises(ReauthorizationNeeded) as info:
        await token(vault, endpoint)
    assert isinstance(info.value, AuthError) and info.value.code == "REAUTH"
    assert info.value.message.startswith("Herautorisatie nodig voor 'exact'")
    assert "koppelaar connect exact" in info.value.advice
    calls = len(endpoint.calls)
    with pytest.raises(ReauthorizationNeeded, match="Old refresh token used"):
        await token(vault, endpoint)
    assert len(endpoint.calls) == calls  # no new attempts against the vendor
    vault.store_initial(
        C, TokenResponse(SecretStr("acc-new"), SecretStr("ref-new"), 600.0), idle_expiry=THIRTY_DAYS
    )
    assert await token(vault, endpoint) == "acc-new"


async def test_forced_refresh_waits_for_the_window_or_gives_up_clearly(
    tmp_path: Path, endpoint: Endpoint, clock: FakeClock
) -> None:
    sleeps = Sleeps(clock)
    vault = TokenVault(tmp_path / "k.db", b"k" * 32, clock=clock, sleep=sleeps)
    vault.store_initial(C, endpoint.pair(), idle_expiry=THIRTY_DAYS)
    await token(vault, endpoint)
    with pytest.raises(TransientError, match="pas over 570 s"):
        await token(vault, endpoint, force=True)  # a 401 right after the login: no refresh possible yet
    clock.advance(540)
    assert await token(vault, endpoint, force=True) == "acc-SENTINEL-2"
    assert sleeps.waits == [pytest.approx(30.0)]


async def test_a_forced_refresh_uses_a_token_another_process_already_got(
    tmp_path: Path, vault: TokenVault, endpoint: Endpoint, clock: FakeClock
) -> None:
    await token(vault, endpoint)
    clock.advance(580)
    other = TokenVault(tmp_path / "k.db", b"k" * 32, clock=clock)
    await token(other, endpoint)
    assert await token(vault, endpoint, force=True) == "acc-SENTINEL-2"
    assert len(endpoint.calls) == 1


async def test_too_early_refusal_keeps_a_pair_it_carries(vault: TokenVault, clock: FakeClock) -> None:
    clock.advance(600)

    async def refusing(refresh: SecretStr) -> TokenResponse:
        raise RefreshTooEarly(
            "too early", tokens=TokenResponse(SecretStr("acc-x"), SecretStr("ref-x"), 600.0)
        )

    assert (await vault.access_token(C, refusing)).get_secret_value() == "acc-x"

    async def refusing_bare(refresh: SecretStr) -> TokenResponse:
        raise RefreshTooEarly("too early")

    clock.advance(575)  # still 25 s: the current token serves
    assert (await vault.access_token(C, refusing_bare)).get_secret_value() == "acc-x"


async def test_status_for_the_console(vault: TokenVault, endpoint: Endpoint, clock: FakeClock) -> None:
    status = vault.status(C)
    assert status is not None and status.days_until_refresh_expiry == pytest.approx(30)
    assert not status.warn and status.host == "https://start.exactonline.nl" and status.refreshed_at is None
    clock.advance(26 * 86400)
    status = vault.status(C)
    assert status is not None and status.warn and status.days_until_refresh_expiry == pytest.approx(4)
    await token(vault, endpoint)  # a keep-alive: the dormant connection refreshes
    status = vault.status(C)
    assert status is not None and not status.warn and status.refreshed_at is not None
    assert vault.status("other") is None


async def test_a_refresh_token_the_vendor_lets_live_unused_never_warns(
    vault: TokenVault, endpoint: Endpoint, clock: FakeClock
) -> None:
    vault.store_initial("twinfield", endpoint.pair(), host="https://login.twinfield.com", idle_expiry=None)
    clock.advance(400 * 86400)  # a year unused: Twinfield documents 25 years
    status = vault.status("twinfield")
    assert status is not None and status.state == "ok" and not status.warn
    assert status.refresh_expires_at is None and status.days_until_refresh_expiry is None


def test_tokens_stored_before_the_idle_expiry_was_the_vendors_keep_30_days(tmp_path: Path) -> None:
    database = tmp_path / "koppelaar.db"
    old = sqlite3.connect(database)
    for script in MIGRATIONS[:6]:  # the schema as the previous version left it, with a token row
        old.executescript(script)
    old.execute(
        "INSERT INTO oauth_tokens (connection, access_enc, refresh_enc, access_expires_at,"
        " refresh_obtained_at, authorized_at) VALUES ('exact', x'00', x'00', 0, ?, ?)",
        (time.time() - 26 * 86400, time.time() - 26 * 86400),
    )
    old.execute("PRAGMA user_version=6")
    old.commit()
    old.close()
    upgraded = TokenVault(database, os.urandom(32))
    try:
        status = upgraded.status("exact")
        assert status is not None and status.days_until_refresh_expiry == pytest.approx(4, abs=0.01)
        assert status.warn
    finally:
        upgraded.close()


async def test_forget(vault: TokenVault, endpoint: Endpoint) -> None:
    vault.forget(C)
    assert vault.status(C) is None
    with pytest.raises(ReauthorizationNeeded, match="geen autorisatie"):
        await token(vault, endpoint)


async def test_a_dead_holder_of_the_lease_is_taken_over(
    tmp_path: Path, vault: TokenVault, endpoint: Endpoint, clock: FakeClock
) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    db = sqlite3.connect(tmp_path / "k.db")
    db.execute(
        "INSERT INTO leases (name, owner, pid, host, acquired_at, expires_at) VALUES (?, 'x', ?, ?, '', 9e12)",
        ("oauth:" + C, int(dead.stdout), os.uname().nodename),
    )
    db.commit()
    clock.advance(600)
    assert await token(vault, endpoint) == "acc-SENTINEL-2"


async def test_a_live_holder_makes_us_wait_then_give_up(
    tmp_path: Path, endpoint: Endpoint, clock: FakeClock
) -> None:
    vault = TokenVault(tmp_path / "k.db", b"k" * 32, clock=clock, sleep=Sleeps(clock), lock_timeout=1.0)
    vault.store_initial(C, endpoint.pair(), idle_expiry=THIRTY_DAYS)
    db = sqlite3.connect(tmp_path / "k.db")
    db.execute(
        "INSERT INTO leases (name, owner, pid, host, acquired_at, expires_at) VALUES (?, 'x', ?, ?, '', 9e12)",
        ("oauth:" + C, os.getpid(), os.uname().nodename),
    )
    db.commit()
    clock.advance(600)
    with pytest.raises(TransientError, match="ander proces"):
        await token(vault, endpoint)
    assert vault.lease_waits == 20 and endpoint.calls == []


def test_bound_tokens_are_a_token_provider(vault: TokenVault, endpoint: Endpoint) -> None:
    assert isinstance(vault.bind(C, endpoint), TokenProvider)


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[str, SecretStr] = {}

    def get(self, name: str) -> SecretStr | None:
        return self.data.get(name)

    def set(self, name: str, value: SecretStr) -> None:
        self.data[name] = value

    def delete(self, name: str) -> None:
        self.data.pop(name, None)

    def describe(self) -> str:
        return "memory"


def test_vault_key_lives_in_the_secret_store() -> None:
    store: SecretStore = MemoryStore()
    key = vault_key(store)
    assert len(key) == 32 and vault_key(store) == key
    with pytest.raises(Exception, match="alleen-lezen"):
        vault_key(EnvStore({}))  # CI: the key must be provided, never invented silently
