"""Keeping OAuth authorizations alive: a vendor may expire a refresh token nobody used for a while
(connectors' OAuthSpec.refresh_idle_expiry; one of them after 30 days).

A koppeling that runs nightly refreshes its tokens as a side effect, but a paused koppeling, a
holiday shutdown or a connection nobody runs would silently lose its authorization, and only an admin
with a browser can bring it back. So once a day (the scheduler's "keepalive" job, 04:40 local time) every
OAuth connection whose refresh token is older than `MIN_AGE_DAYS` is refreshed through the token vault:
the same single-flight, persist-before-use path the runs take (research/engineering.md §3.3), never a
second refresh path. A fresh token is left alone: every refresh rotates it, and each rotation is a
small crash window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from connectors.errors import ConnectorError
from state.config import load_settings
from state.home import Home
from state.secrets import open_secret_store
from state.tokens import ReauthorizationNeeded, TokenVault, vault_key
from sync.service import oauth_client, refresh_window, uses_oauth

log = logging.getLogger("koppelaar.keepalive")

KEEPALIVE_JOB = "keepalive:oauth"  # the job_runs key (business-date dedup), not a koppeling name
KEEPALIVE_SCHEDULE = "40 4 * * *"  # daily 04:40 in app.timezone: after the 03:15 runs, outside DST hours
MIN_AGE_DAYS = 7.0

Action = Literal["vers", "vernieuwd", "herautorisatie", "niet-geautoriseerd", "fout"]


@dataclass(frozen=True)
class KeepAliveResult:
    connection: str
    action: Action
    message: str


async def keep_alive(
    home: Home, *, min_age_days: float = MIN_AGE_DAYS, clock: Callable[[], float] = time.time
) -> list[KeepAliveResult]:
    """Refresh each OAuth connection's tokens when its refresh token is `min_age_days` or older."""
    settings = load_settings(home.config)
    oauth_connections = {name: conn for name, conn in settings.connections.items() if uses_oauth(conn)}
    if not oauth_connections:
        return []
    secrets = open_secret_store(settings.app, home.root)
    results: list[KeepAliveResult] = []
    for name, connection in oauth_connections.items():
        secret = secrets.get(f"{name}:client_secret")
        vault = TokenVault(
            home.database, vault_key(secrets), clock=clock, refresh_window=refresh_window(connection)
        )
        try:
            status = vault.status(name)
            if status is None or secret is None:
                results.append(KeepAliveResult(name, "niet-geautoriseerd", "nog niet geautoriseerd"))
                continue
            if status.state != "ok":
                results.append(KeepAliveResult(name, "herautorisatie", status.reason))
                continue
            age = (clock() - status.refresh_obtained_at.timestamp()) / 86400
            if age < min_age_days:
                results.append(KeepAliveResult(name, "vers", f"vernieuwingstoken {age:.0f} dagen oud"))
                continue
            oauth = oauth_client(connection, secret)
            try:
                await vault.access_token(name, oauth.refresh)
            except ReauthorizationNeeded as exc:
                results.append(KeepAliveResult(name, "herautorisatie", exc.reason))
                continue
            except ConnectorError as exc:  # transient: tomorrow's keep-alive (or a run) tries again
                results.append(KeepAliveResult(name, "fout", exc.message))
                continue
            finally:
                await oauth.aclose()
            after = vault.status(name)
            refreshed = after is not None and after.refresh_obtained_at > status.refresh_obtained_at
            results.append(
                KeepAliveResult(
                    name,
                    "vernieuwd" if refreshed else "vers",
                    f"vernieuwingstoken was {age:.0f} dagen oud" if refreshed else "toegangstoken nog geldig",
                )
            )
        finally:
            vault.close()
    for result in results:
        log.info("keep-alive %s: %s (%s)", result.connection, result.action, result.message)
    return results
