"""OAuth tokens that rotate: encrypted in koppelaar.db, refreshed single-flight
across tasks and processes, persisted before they are used. See research/engineering.md §3.3.

Why a lease row and not a `BEGIN IMMEDIATE` held across the refresh request: SQLite's write lock covers
the whole database, and every other writer in this program (the engine's outbox, foutmeldingen) takes it
synchronously on the event loop. A task waiting for that lock blocks the loop, so the refresh response it
waits for can never be read: a deadlock until `busy_timeout`, then "database is locked" in the engine.
The lease (`leases` row `oauth:<connection>`) is taken and released in short transactions; the network
request runs without any database lock. A holder that dies is taken over at once on the same host (its
pid is gone) and otherwise after `lease_ttl`, which is longer than any token request may take.

The crash window: the vendor has rotated the tokens and we die before our commit. Nothing can close it
(the vendor has no idempotent refresh), so it is kept as small as possible: between the response and
the commit there is no `await`, only parsing, encryption and one UPDATE with `synchronous=FULL`. If it
does happen, the stored refresh token is the old one; the next refresh gets `invalid_grant`, the row is
re-read (no other process rotated it) and the connection goes to "Herautorisatie nodig" with the reason,
never silently.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from connectors.errors import AuthError, TransientError
from connectors.oauth import InvalidGrant, Refresh, RefreshTooEarly, TokenResponse
from state.secrets import SecretStore, SecretStoreError
from state.store import Store

KEY_NAME = "koppelaar:oauth_token_key"
# Warn this long before an unused refresh token expires (a 30-day token: after 25 days unused).
IDLE_WARNING_DAYS = 5.0
_NONCE = 12

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
TokenState = Literal["ok", "needs_reauth"]


def reauth_advice(connection: str) -> str:
    return (
        f"Autoriseer de verbinding opnieuw met `koppelaar connect {connection}`: log in bij de leverancier "
        "met een account dat toegang heeft tot de administratie en kies Toestaan. Tot dan boekt deze "
        "koppeling niets; er gaat niets verloren."
    )


class ReauthorizationNeeded(AuthError):
    """The connection has no usable refresh token any more: an admin must authorize again."""

    def __init__(self, connection: str, reason: str) -> None:
        super().__init__(
            f"Herautorisatie nodig voor '{connection}': {reason}",
            advice=reauth_advice(connection),
            code="REAUTH",
        )
        self.connection = connection
        self.reason = reason


@dataclass(frozen=True)
class TokenStatus:
    """What the console shows about a connection's tokens (no secrets)."""

    connection: str
    state: TokenState
    reason: str
    host: str
    access_expires_at: datetime
    authorized_at: datetime
    refreshed_at: datetime | None
    refresh_obtained_at: datetime
    refresh_expires_at: datetime | None  # if it stays unused; None: the vendor lets it live unused
    days_until_refresh_expiry: float | None
    version: int

    @property
    def warn(self) -> bool:
        """The refresh token expires unused within days (or is dead): it needs a refresh or a new login."""
        if self.state != "ok":
            return True
        days = self.days_until_refresh_expiry
        return days is not None and days <= IDLE_WARNING_DAYS


@dataclass(frozen=True)
class _Row:
    access: SecretStr
    refresh: SecretStr
    access_expires_at: float
    refresh_obtained_at: float
    version: int
    state: TokenState
    reason: str


@dataclass(frozen=True)
class _Cached:
    access: SecretStr
    expires_at: float
    version: int


def vault_key(secrets: SecretStore) -> bytes:
    """The 32-byte key for the token table, kept in the secret store (created on first use).

    Two processes creating it at the same moment: both write, the last write wins and both use what is
    stored afterwards. That happens at the first `koppelaar connect` of an OAuth connection, before any
    token is encrypted.
    """
    stored = secrets.get(KEY_NAME)
    if stored is None:
        secrets.set(KEY_NAME, SecretStr(base64.b64encode(os.urandom(32)).decode("ascii")))
        stored = secrets.get(KEY_NAME)
    if stored is None:
        raise SecretStoreError("de sleutel voor de OAuth-tokens kon niet worden opgeslagen")
    try:
        key = base64.b64decode(stored.get_secret_value(), validate=True)
    except binascii.Error:
        key = b""
    if len(key) != 32:
        raise SecretStoreError(
            f"de sleutel voor de OAuth-tokens ({KEY_NAME}) is beschadigd; verwijder hem en autoriseer de "
            "OAuth-verbindingen opnieuw"
        )
    return key


class TokenVault:
    """Encrypted OAuth tokens per connection, with single-flight refresh (see the module docstring).

    `margin`: an access token with more life than this is used without any lock. `refresh_window`: the
    vendor refuses a refresh earlier than this before expiry (the connector's OAuthSpec says), so until then the current
    token is used. `before_persist` is a test seam, called between receiving a new pair and storing it.
    """

    def __init__(
        self,
        path: Path,
        key: bytes,
        *,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        margin: float = 60.0,
        refresh_window: float = 30.0,
        max_wait: float = 45.0,
        lease_ttl: float = 120.0,
        lock_poll: float = 0.05,
        lock_timeout: float = 90.0,
        before_persist: Callable[[str], None] | None = None,
    ) -> None:
        if len(key) != 32:
            raise ValueError("the token key must be 32 bytes")
        Store(path).close()  # migrations
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # A rotated refresh token is the only way back in: its commit must survive a power cut.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._aes = AESGCM(key)
        self._clock = clock
        self._sleep = sleep
        self._margin = margin
        self._window = refresh_window
        self._max_wait = max_wait
        self._lease_ttl = lease_ttl
        self._lock_poll = lock_poll
        self._lock_timeout = lock_timeout
        self._before_persist = before_persist
        self._owner = f"tokens-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._locks: dict[str, asyncio.Lock] = {}
        self._cache: dict[str, _Cached] = {}
        self.refreshes = 0  # token requests this vault made (tests, diagnostics)
        self.lease_waits = 0  # times another process held the refresh lease

    def __repr__(self) -> str:
        return f"TokenVault({self._owner!r})"

    def close(self) -> None:
        self._db.close()

    # --- public API --------------------------------------------------------------------------------

    def store_initial(
        self, connection: str, tokens: TokenResponse, *, host: str = "", idle_expiry: float | None
    ) -> None:
        """Keep the pair from the authorization-code exchange (replaces whatever was stored).

        `idle_expiry`: seconds after which the vendor expires a refresh token nobody used (None: never).
        """
        now = self._clock()
        with self._tx() as db:
            db.execute(
                "INSERT INTO oauth_tokens (connection, access_enc, refresh_enc, access_expires_at,"
                " refresh_obtained_at, authorized_at, refreshed_at, version, state, reason, host,"
                " refresh_idle_seconds) VALUES (?, ?, ?, ?, ?, ?, NULL, 1, 'ok', '', ?, ?)"
                " ON CONFLICT (connection) DO UPDATE SET"
                " access_enc = excluded.access_enc, refresh_enc = excluded.refresh_enc,"
                " access_expires_at = excluded.access_expires_at,"
                " refresh_obtained_at = excluded.refresh_obtained_at, authorized_at = excluded.authorized_at,"
                " refreshed_at = NULL, version = oauth_tokens.version + 1, state = 'ok', reason = '',"
                " host = excluded.host, refresh_idle_seconds = excluded.refresh_idle_seconds",
                (
                    connection,
                    self._seal(connection, "access", tokens.access_token),
                    self._seal(connection, "refresh", tokens.refresh_token),
                    now + tokens.expires_in,
                    now,
                    now,
                    host,
                    idle_expiry,
                ),
            )
        self._cache.pop(connection, None)

    def forget(self, connection: str) -> None:
        """Disconnect: the tokens are gone from the database (the vendor keeps them until they expire)."""
        with self._tx() as db:
            db.execute("DELETE FROM oauth_tokens WHERE connection = ?", (connection,))
            db.execute("DELETE FROM leases WHERE name = ?", (_lease(connection),))
        self._cache.pop(connection, None)

    def status(self, connection: str) -> TokenStatus | None:
        row = self._db.execute(
            "SELECT access_expires_at, refresh_obtained_at, authorized_at, refreshed_at, version, state,"
            " reason, host, refresh_idle_seconds FROM oauth_tokens WHERE connection = ?",
            (connection,),
        ).fetchone()
        if row is None:
            return None
        obtained = float(row["refresh_obtained_at"])
        idle = row["refresh_idle_seconds"]
        expires = None if idle is None else obtained + float(idle)
        return TokenStatus(
            connection=connection,
            state=row["state"],
            reason=row["reason"],
            host=row["host"],
            access_expires_at=_dt(float(row["access_expires_at"])),
            authorized_at=_dt(float(row["authorized_at"])),
            refreshed_at=_dt(float(row["refreshed_at"])) if row["refreshed_at"] is not None else None,
            refresh_obtained_at=_dt(obtained),
            refresh_expires_at=None if expires is None else _dt(expires),
            days_until_refresh_expiry=None if expires is None else (expires - self._clock()) / 86400,
            version=int(row["version"]),
        )

    def mark_needs_reauth(self, connection: str, reason: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE oauth_tokens SET state = 'needs_reauth', reason = ? WHERE connection = ?",
                (reason, connection),
            )
        self._cache.pop(connection, None)

    def bind(self, connection: str, refresh: Refresh) -> BoundTokens:
        """A `connectors.oauth.TokenProvider` for one connection, for the connector."""
        return BoundTokens(self, connection, refresh)

    async def access_token(self, connection: str, refresh: Refresh, *, force: bool = False) -> SecretStr:
        """A usable access token; refreshes (once, whoever asks) when it is about to expire.

        `force` after a 401: the token this vault handed out was refused. If another process has
        refreshed since, its token is used; otherwise a refresh is made as soon as the vendor allows.
        Raises ReauthorizationNeeded (an AuthError) when only a new authorization helps, and
        TransientError when the refresh cannot be done now.
        """
        cached = self._cache.get(connection)
        if not force and cached is not None and cached.expires_at - self._clock() > self._margin:
            return cached.access
        refused_version = cached.version if force and cached is not None else None
        async with self._locks.setdefault(connection, asyncio.Lock()):
            row = self._usable_row(connection)
            if refused_version is not None and row.version != refused_version:
                return self._use(connection, row)  # refreshed meanwhile (by another task or process)
            if not force and row.access_expires_at - self._clock() > self._window:
                return self._use(connection, row)  # the vendor would refuse a refresh this early
            return await self._refresh(connection, refresh, row, force=force)

    # --- the refresh -------------------------------------------------------------------------------

    async def _refresh(self, connection: str, refresh: Refresh, seen: _Row, *, force: bool) -> SecretStr:
        early = seen.access_expires_at - self._window - self._clock()
        if early > 0:  # forced (a 401) while our clock says it is too early for the vendor
            if early > self._max_wait:
                raise self._too_early(connection, early)
            await self._sleep(early)
        await self._take_lease(connection)
        try:
            row = self._usable_row(connection)  # re-read under the lease
            if row.version != seen.version:
                return self._use(connection, row)  # another process refreshed while we waited
            for attempt in (1, 2):
                self.refreshes += 1
                try:
                    tokens = await refresh(row.refresh)
                except RefreshTooEarly as exc:
                    if exc.tokens is not None:  # a refusal that still rotated: keep what it returned
                        return self._persist(connection, exc.tokens)
                    remaining = row.access_expires_at - self._clock()
                    if not force and remaining > 0:
                        return self._use(connection, row)
                    if attempt == 2 or self._window + 1 > self._max_wait:
                        raise
                    await self._sleep(self._window + 1)
                    continue
                except InvalidGrant as exc:
                    latest = self._read(connection)
                    if latest is not None and latest.version != row.version and latest.state == "ok":
                        return self._use(connection, latest)  # rotated by someone else: race recovered
                    reason = f"de leverancier weigert het vernieuwingstoken ({exc.message})"
                    self.mark_needs_reauth(connection, reason)
                    raise ReauthorizationNeeded(connection, reason) from None
                # From here to the commit: no await (the crash window, see the module docstring).
                if self._before_persist is not None:
                    self._before_persist(connection)
                return self._persist(connection, tokens)
            raise AssertionError("unreachable")
        finally:
            self._release_lease(connection)

    def _persist(self, connection: str, tokens: TokenResponse) -> SecretStr:
        """Store the new pair (always: the vendor has already rotated) and hand out its access token."""
        now = self._clock()
        with self._tx() as db:
            cur = db.execute(
                "UPDATE oauth_tokens SET access_enc = ?, refresh_enc = ?, access_expires_at = ?,"
                " refresh_obtained_at = ?, refreshed_at = ?, version = version + 1, state = 'ok', reason = ''"
                " WHERE connection = ?",
                (
                    self._seal(connection, "access", tokens.access_token),
                    self._seal(connection, "refresh", tokens.refresh_token),
                    now + tokens.expires_in,
                    now,
                    now,
                    connection,
                ),
            )
            row = db.execute(
                "SELECT version FROM oauth_tokens WHERE connection = ?", (connection,)
            ).fetchone()
        if cur.rowcount != 1 or row is None:
            # Disconnected while we refreshed: do not bring the connection back.
            raise ReauthorizationNeeded(connection, "de verbinding is intussen losgekoppeld")
        self._cache[connection] = _Cached(tokens.access_token, now + tokens.expires_in, int(row["version"]))
        return tokens.access_token

    def _use(self, connection: str, row: _Row) -> SecretStr:
        self._cache[connection] = _Cached(row.access, row.access_expires_at, row.version)
        return row.access

    def _too_early(self, connection: str, wait: float) -> TransientError:
        return TransientError(
            f"'{connection}': het toegangstoken werd geweigerd, maar de leverancier staat vernieuwen pas over "
            f"{wait:.0f} s toe",
            advice="De koppeling probeert het bij de volgende run opnieuw; u hoeft niets te doen.",
            code="TOKEN_TOO_EARLY",
        )

    # --- rows --------------------------------------------------------------------------------------

    def _usable_row(self, connection: str) -> _Row:
        row = self._read(connection)
        if row is None:
            raise ReauthorizationNeeded(connection, "er is geen autorisatie opgeslagen")
        if row.state != "ok":
            raise ReauthorizationNeeded(connection, row.reason or "de autorisatie is verlopen")
        return row

    def _read(self, connection: str) -> _Row | None:
        row = self._db.execute(
            "SELECT access_enc, refresh_enc, access_expires_at, refresh_obtained_at, version, state, reason"
            " FROM oauth_tokens WHERE connection = ?",
            (connection,),
        ).fetchone()
        if row is None:
            return None
        access = self._open(connection, "access", row["access_enc"])
        refresh = self._open(connection, "refresh", row["refresh_enc"])
        if access is None or refresh is None:
            reason = "de opgeslagen tokens zijn niet te ontsleutelen (andere sleutel of gewijzigde database)"
            return _Row(SecretStr(""), SecretStr(""), 0.0, 0.0, int(row["version"]), "needs_reauth", reason)
        return _Row(
            access,
            refresh,
            float(row["access_expires_at"]),
            float(row["refresh_obtained_at"]),
            int(row["version"]),
            row["state"],
            row["reason"],
        )

    def _seal(self, connection: str, field: str, value: SecretStr) -> bytes:
        nonce = os.urandom(_NONCE)
        aad = f"oauth:{connection}:{field}".encode()
        return nonce + self._aes.encrypt(nonce, value.get_secret_value().encode("utf-8"), aad)

    def _open(self, connection: str, field: str, blob: bytes) -> SecretStr | None:
        aad = f"oauth:{connection}:{field}".encode()
        try:
            return SecretStr(self._aes.decrypt(blob[:_NONCE], blob[_NONCE:], aad).decode("utf-8"))
        except (InvalidTag, ValueError, TypeError):
            return None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- the cross-process lease -------------------------------------------------------------------

    async def _take_lease(self, connection: str) -> None:
        attempts = max(1, int(self._lock_timeout / self._lock_poll))
        for _ in range(attempts):
            if self._try_lease(connection):
                return
            self.lease_waits += 1
            await self._sleep(self._lock_poll)
        raise TransientError(
            f"'{connection}': een ander proces is al {self._lock_timeout:.0f} s bezig de tokens te vernieuwen",
            advice="De koppeling probeert het bij de volgende run opnieuw. Blijft dit zo, herstart dan de daemon.",
            code="TOKEN_LOCK",
        )

    def _try_lease(self, connection: str) -> bool:
        moment = time.time()  # process liveness: real time, whatever clock the tokens use
        with self._tx() as db:
            row = db.execute(
                "SELECT owner, pid, host, expires_at FROM leases WHERE name = ?", (_lease(connection),)
            ).fetchone()
            if (
                row is not None
                and row["owner"] != self._owner
                and float(row["expires_at"]) > moment
                and not (row["host"] == socket.gethostname() and not _alive(int(row["pid"])))
            ):
                return False
            db.execute(
                "INSERT INTO leases (name, owner, pid, host, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, pid = excluded.pid,"
                " host = excluded.host, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at",
                (
                    _lease(connection),
                    self._owner,
                    os.getpid(),
                    socket.gethostname(),
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    moment + self._lease_ttl,
                ),
            )
        return True

    def _release_lease(self, connection: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (_lease(connection), self._owner))


class BoundTokens:
    """The vault seen from one connector: `await tokens.access_token(force=...)`."""

    def __init__(self, vault: TokenVault, connection: str, refresh: Refresh) -> None:
        self.vault = vault
        self.connection = connection
        self._refresh = refresh

    def __repr__(self) -> str:
        return f"BoundTokens({self.connection!r})"

    async def access_token(self, *, force: bool = False) -> SecretStr:
        return await self.vault.access_token(self.connection, self._refresh, force=force)


def _lease(connection: str) -> str:
    return f"oauth:{connection}"


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
