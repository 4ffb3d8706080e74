"""FactuurSturenSource over real HTTP against the sandbox simulator."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from connectors.contract import Health, RateLimit, SourceRecord, Stream
from connectors.errors import TransientError
from connectors.factuursturen import FactuurSturenSource
from sandbox.data import BE
from sandbox.factuursturen import FactuurSturenSim
from sandbox.server import SandboxServer

KEY = "fs-api-key-0123456789"


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sim() -> FactuurSturenSim:
    return FactuurSturenSim({"jan": KEY}, quota_per_hour=None)


@pytest.fixture
def url(sim: FactuurSturenSim) -> Iterator[str]:
    with SandboxServer(factuursturen=sim) as server:
        yield server.factuursturen_url


def source(
    url: str, sleeps: Sleeps, *, key: str = KEY, page_size: int = 100, read: float = 5.0
) -> FactuurSturenSource:
    return FactuurSturenSource(
        "jan",
        SecretStr(key),
        base_url=url,
        page_size=page_size,
        rate_limit=RateLimit(per_second=1000),
        timeout=httpx.Timeout(read, connect=2.0),
        sleep=sleeps,
    )


async def read_all(src: FactuurSturenSource, cursor: str | None = None) -> list[list[SourceRecord]]:
    return [page async for page in src.read(Stream.INVOICES, "", cursor)]


def seed(sim: FactuurSturenSim, n: int) -> None:
    nl = sim.add_client("Voorbeeld BV", clientnr=42)
    for i in range(n):
        sim.add_invoice(nl.clientnr, [(4, Decimal("13"), 21, "Appels")], sent=f"2026-01-{10 + i % 15:02d}")


async def test_wrong_key_is_auth_failed_with_new_key_advice(sim: FactuurSturenSim, url: str) -> None:
    src = source(url, Sleeps(), key="wrong")
    result = await src.check()
    await src.aclose()
    assert result.health is Health.AUTH_FAILED
    assert "Instellingen → Verbindingen" in result.advice and "API-sleutel" in result.advice
    assert "wrong" not in src.client.last_exchange


async def test_revoked_key_after_working(sim: FactuurSturenSim, url: str) -> None:
    src = source(url, Sleeps())
    assert (await src.check()).ok
    sim.revoke_api_key("jan")
    assert (await src.check()).health is Health.AUTH_FAILED
    await src.aclose()


async def test_paging_across_pages_with_inclusive_since(sim: FactuurSturenSim, url: str) -> None:
    seed(sim, 25)
    src = source(url, Sleeps(), page_size=10)
    pages = await read_all(src, "2026-01-12")
    await src.aclose()
    records = [r for page in pages for r in page]
    expected = [i for i in sim.invoices if i.sent >= "2026-01-12"]
    assert len(records) == len(expected) and all(r.payload is not None for r in records)
    assert [len(p) for p in pages][:-1] == [10] * (len(pages) - 1)
    assert records[0].cursor_key == "2026-01-12"
    assert [r.cursor_key for r in records] == sorted(r.cursor_key for r in records)


async def test_quirks_from_the_simulator(sim: FactuurSturenSim, url: str) -> None:
    be = sim.add_client("Klant België", country=BE, taxnumber="BE0403019261")
    sim.add_invoice(be.clientnr, [(1, Decimal("-100"), 0, "Creditnota")], tax_shifted=True, sent="2026-02-01")
    sim.add_invoice(be.clientnr, [], legacy=True, sent="2026-02-02")
    sim.add_invoice(be.clientnr, [(3, Decimal("9.99"), 9, "Boek")], currency="USD", sent="2026-02-03")
    src = source(url, Sleeps())
    records = [r for page in await read_all(src) for r in page]
    await src.aclose()
    assert [r.problem for r in records] == [None, None, None]
    credit, legacy, usd = (r.payload for r in records)
    assert credit is not None and credit.credit_note and credit.party.country == "BE"
    assert credit.lines[0].vat_category.value == "AE"
    assert legacy is not None and legacy.lines == ()
    assert usd is not None and usd.currency == "USD" and usd.total_vat == Decimal("2.70")


async def test_no_new_invoices_sends_exactly_one_request_besides_check(
    sim: FactuurSturenSim, url: str
) -> None:
    seed(sim, 3)
    src = source(url, Sleeps())
    assert (await src.check()).ok
    before = src.client.request_count
    assert await read_all(src, "2027-01-01") == []
    await src.aclose()
    assert src.client.request_count - before == 1
    assert sim.request_count(path_prefix="/api/v1/clients") == 0


async def test_429_retry_after_is_honoured(sim: FactuurSturenSim, url: str) -> None:
    seed(sim, 2)
    sim.faults.add("status", status=429, retry_after=3, path="/api/v1/invoices", times=1)
    sleeps = Sleeps()
    src = source(url, sleeps)
    pages = await read_all(src)
    await src.aclose()
    assert sum(len(p) for p in pages) == 2 and sleeps.waits == [3.0]


async def test_500_on_reads_is_retried(sim: FactuurSturenSim, url: str) -> None:
    seed(sim, 2)
    sim.faults.add("status", status=500, path="/api/v1/invoices", times=2)
    sleeps = Sleeps()
    src = source(url, sleeps)
    pages = await read_all(src)
    await src.aclose()
    assert sum(len(p) for p in pages) == 2 and len(sleeps.waits) == 2


async def test_timeout_and_malformed_body_exhaust_into_transient(sim: FactuurSturenSim, url: str) -> None:
    seed(sim, 2)
    sim.faults.add("timeout", seconds=5, path="/api/v1/invoices")
    src = source(url, Sleeps(), read=0.2)
    with pytest.raises(TransientError, match="ReadTimeout"):
        await read_all(src)
    sim.faults.clear()
    sim.faults.add("malformed", path="/api/v1/invoices")
    with pytest.raises(TransientError, match="onleesbaar"):
        await read_all(src)
    await src.aclose()
