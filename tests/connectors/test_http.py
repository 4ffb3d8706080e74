"""The shared HTTP layer's retry policy, pauses and redaction, over an in-process transport."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from connectors.errors import TransientError, UncertainError
from connectors.http import VendorClient, encode_json, require_json

Handler = Callable[[httpx.Request], httpx.Response]


class Sleeps:
    """An injected sleep that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def script(*steps: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = steps[min(len(seen), len(steps)) - 1]
        if isinstance(step, Exception):
            raise step
        return step

    return handler, seen


def client(handler: Handler, sleeps: Sleeps, **kwargs: object) -> VendorClient:
    return VendorClient(
        "https://vendor.test/api/",
        vendor="Test",
        transport=httpx.MockTransport(handler),
        sleep=sleeps,
        secrets=["s3cr3t-key"],
        **kwargs,  # type: ignore[arg-type]
    )


async def test_429_retry_after_is_honoured_even_for_a_create() -> None:
    sleeps = Sleeps()
    handler, seen = script(
        httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={"id": 1})
    )
    c = client(handler, sleeps)
    response = await c.request("POST", "things", json={"a": 1})
    assert response.status_code == 200
    assert sleeps.waits == [7.0]
    assert len(seen) == 2 and c.request_count == 2


async def test_retry_after_beyond_the_cap_fails_fast_without_sleeping() -> None:
    sleeps = Sleeps()
    handler, seen = script(httpx.Response(429, headers={"Retry-After": "3000"}))
    c = client(handler, sleeps, max_pause=120.0)
    with pytest.raises(TransientError, match="limiet"):
        await c.request("GET", "things")
    with pytest.raises(TransientError):  # the pause is remembered: nothing is sent
        await c.request("GET", "things")
    assert sleeps.waits == [] and len(seen) == 1


async def test_reads_retry_5xx_with_backoff_then_give_up() -> None:
    sleeps = Sleeps()
    handler, seen = script(httpx.Response(500))
    c = client(handler, sleeps, max_attempts=4)
    with pytest.raises(TransientError) as info:
        await c.request("GET", "things")
    assert len(seen) == 4 and len(sleeps.waits) == 3
    assert sleeps.waits[0] < sleeps.waits[2] <= 8.0  # exponential, capped
    assert "500" in info.value.exchange


async def test_create_is_never_repeated_after_a_5xx_or_read_timeout() -> None:
    for failure in (httpx.Response(502), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("reset")):
        sleeps = Sleeps()
        handler, seen = script(failure, httpx.Response(200, json={"id": 1}))
        c = client(handler, sleeps)
        with pytest.raises(UncertainError):
            await c.request("POST", "things", json={"a": 1})
        assert len(seen) == 1, failure


async def test_create_is_repeated_when_it_never_reached_the_server() -> None:
    sleeps = Sleeps()
    handler, seen = script(httpx.ConnectError("refused"), httpx.Response(200, json={"id": 1}))
    c = client(handler, sleeps)
    assert (await c.request("POST", "things", json={})).status_code == 200
    assert len(seen) == 2


async def test_a_post_marked_idempotent_is_retried_on_timeout() -> None:
    sleeps = Sleeps()
    handler, seen = script(httpx.ReadTimeout("slow"), httpx.Response(200, json={}))
    c = client(handler, sleeps)
    assert (await c.request("POST", "session", json={}, idempotent=True)).status_code == 200
    assert len(seen) == 2


async def test_malformed_body_retried_on_reads_uncertain_on_creates() -> None:
    sleeps = Sleeps()
    handler, seen = script(httpx.Response(200, content=b"{not json"), httpx.Response(200, json=[]))
    c = client(handler, sleeps)
    assert (await c.request("GET", "things", check=require_json)).status_code == 200
    handler, seen = script(httpx.Response(200, content=b"<html>"))
    c = client(handler, sleeps)
    with pytest.raises(UncertainError):
        await c.request("POST", "things", json={}, check=require_json)
    assert len(seen) == 1


async def test_4xx_is_returned_to_the_vendor_code() -> None:
    handler, seen = script(httpx.Response(400, json={"code": "MUT_007"}))
    c = client(handler, Sleeps())
    assert (await c.request("POST", "things", json={})).status_code == 400
    assert len(seen) == 1


async def test_hourly_quota_exhausted_pauses_till_the_next_hour_capped() -> None:
    sleeps = Sleeps()
    handler, _ = script(httpx.Response(200, json=[], headers={"x-ratelimit-remaining": "0"}))
    now = [3600.0 * 10 + 3590]  # ten seconds before the hour
    c = client(handler, sleeps, hourly_quota_header="x-ratelimit-remaining", clock=lambda: now[0])
    await c.request("GET", "a")
    await c.request("GET", "b")
    assert sleeps.waits == [pytest.approx(10.0)]
    now[0] = 3600.0 * 11 + 60  # a minute past: the wait would be 59 minutes
    await c.request("GET", "c")  # sets the pause again
    with pytest.raises(TransientError, match="limiet"):
        await c.request("GET", "d")


async def test_exchange_log_redacts_secrets_everywhere() -> None:
    handler, _ = script(httpx.Response(400, json={"echo": "s3cr3t-key", "session": "tok-123"}))
    c = client(handler, Sleeps(), auth=("user", "s3cr3t-key"))
    c.add_secret("tok-123")
    await c.request(
        "POST",
        "things?apikey=abc&x=1",
        json={"accessToken": "s3cr3t-key"},
        headers={"Cookie": "sid=1", "X-Session": "tok-123"},
    )
    text = c.last_exchange
    assert "s3cr3t-key" not in text and "tok-123" not in text and "abc" not in text
    assert "authorization: ***" in text and "cookie: ***" in text and "→ 400" in text
    assert "secret" not in repr(c)


async def test_exceptions_carry_the_redacted_exchange() -> None:
    handler, _ = script(httpx.Response(503, text="down s3cr3t-key"))
    c = client(handler, Sleeps(), max_attempts=1)
    with pytest.raises(TransientError) as info:
        await c.request("GET", "things")
    assert "503" in info.value.exchange and "s3cr3t-key" not in info.value.exchange


def test_decimals_are_sent_digit_for_digit() -> None:
    from decimal import Decimal

    assert encode_json({"amount": Decimal("100.10"), "n": [1, "x"]}) == b'{"amount":100.10,"n":[1,"x"]}'
    with pytest.raises(TypeError):
        encode_json({"amount": 0.1})
