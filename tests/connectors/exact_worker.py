"""A Koppelaar process as the cross-process tests need it: one check() of an Exact connection.

`python -m tests.connectors.exact_worker --db DB --url URL [--kill-before-persist]`; the token key comes
from $KOPPELAAR_TEST_TOKEN_KEY (hex). The clock is the simulator's (`/_sandbox/exact/clock`), so the
test controls time for every process at once. Prints one JSON line; exit 0 when the connection works,
3 when it needs a new authorization, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import sys
from pathlib import Path

import httpx
from pydantic import SecretStr

from connectors.contract import Health, RateLimit
from connectors.exact import ExactOAuth, ExactOnline
from state.tokens import TokenVault

CLIENT_ID = "exact-app-7f3a"
CLIENT_SECRET = "exsecret-S3NT1NEL-51c0e2"
REDIRECT_URI = "https://koppelaar.example/exact/callback"
CONNECTION = "exact"
DIVISION = 1234567


def sim_clock(url: str) -> float:
    return float(httpx.get(f"{url}/_sandbox/exact/clock", timeout=5).json()["now"])


def kill_self(connection: str) -> None:
    """Die between receiving a new token pair and storing it: the crash window."""
    print(json.dumps({"event": "killing", "pid": os.getpid()}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--kill-before-persist", action="store_true")
    args = parser.parse_args(argv)
    key = bytes.fromhex(os.environ["KOPPELAAR_TEST_TOKEN_KEY"])
    vault = TokenVault(
        args.db,
        key,
        clock=lambda: sim_clock(args.url),
        before_persist=kill_self if args.kill_before_persist else None,
    )
    oauth = ExactOAuth(CLIENT_ID, SecretStr(CLIENT_SECRET), REDIRECT_URI, base_url=args.url)
    target = ExactOnline(
        vault.bind(CONNECTION, oauth.refresh),
        division=DIVISION,
        base_url=args.url,
        rate_limit=RateLimit(per_second=100, max_concurrency=2),
        clock=lambda: sim_clock(args.url),
    )
    try:
        result = await target.check()
        token = await vault.access_token(CONNECTION, oauth.refresh)
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
        status = vault.status(CONNECTION)
        return 3 if status is not None and status.state == "needs_reauth" else 1
    finally:
        await target.aclose()
        await oauth.aclose()
    status = vault.status(CONNECTION)
    print(
        json.dumps(
            {
                "health": result.health.value,
                "reason": result.reason,
                "refreshes": vault.refreshes,
                "lease_waits": vault.lease_waits,
                "token": hashlib.sha256(token.get_secret_value().encode()).hexdigest()[:12],
                "state": status.state if status else None,
            }
        ),
        flush=True,
    )
    if result.health is Health.OK:
        return 0
    return 3 if status is not None and status.state == "needs_reauth" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
