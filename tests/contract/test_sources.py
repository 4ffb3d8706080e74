"""What every invoice source promises (connectors/contract.py), tried against each source simulator over
real HTTP, on its own and in a run into e-Boekhouden: refused access, paging in cursor order, and rate
limits and server errors on its listing that cost a retry and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.contract import Health, Stream
from connectors.errors import Origin
from sync.engine import RunStatus
from tests.contract.conftest import SourceVendor
from tests.world import World

PAGE = 10
INVOICES = 25  # three pages


@pytest.fixture
def world(source_vendor: SourceVendor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with source_vendor.world(tmp_path, monkeypatch, invoices=INVOICES, page_size=PAGE) as w:
        yield w


async def test_withdrawn_access_is_auth_failed_with_a_reason(
    source_vendor: SourceVendor, world: World
) -> None:
    async with source_vendor.connector(world) as source:
        assert (await source.check()).ok
    source_vendor.revoke(world)

    async with source_vendor.connector(world) as source:
        result = await source.check()

    assert result.health is Health.AUTH_FAILED, result
    assert result.reason.strip() and result.advice.strip()


async def test_withdrawn_access_parks_an_auth_foutmelding_and_books_nothing(
    source_vendor: SourceVendor, world: World
) -> None:
    source_vendor.revoke(world)

    report = await world.run()

    assert report.status is RunStatus.FAILED
    assert world.eb.mutations == []
    [problem] = world.store().foutmeldingen("facturen")
    assert problem.origin == f"{Origin.AUTH.value}:{source_vendor.connection}"
    assert problem.advice.strip()


async def test_every_page_is_read_once_in_cursor_order(source_vendor: SourceVendor, world: World) -> None:
    async with source_vendor.connector(world) as source:
        pages = [page async for page in source.read(Stream.INVOICES, "", None)]

    records = [r for page in pages for r in page]
    assert len(pages) >= 3 and all(len(page) == PAGE for page in pages[:-1])
    assert sorted(r.record_id for r in records) == sorted(source_vendor.record_ids(world))
    assert [r.cursor_key for r in records] == sorted(r.cursor_key for r in records)
    assert source_vendor.listing_requests(world) == len(pages) + (len(pages[-1]) == PAGE)


async def test_a_run_reads_every_page_and_books_every_invoice(
    source_vendor: SourceVendor, world: World
) -> None:
    report = await world.run()

    assert report.status is RunStatus.OK, report.problems
    assert source_vendor.listing_requests(world) >= INVOICES // PAGE + 1
    assert sorted(m.invoice_number for m in world.eb.mutations) == sorted(world.bookable_invoice_numbers())


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_rate_limits_and_server_errors_on_the_listing_are_retried(
    source_vendor: SourceVendor, world: World, status: int
) -> None:
    source_vendor.fail_reads(world, "status", times=2, status=status, retry_after=2)

    report = await world.run()

    assert report.status is RunStatus.OK, report.problems
    refused = [r for r in source_vendor.sim(world).request_log if r.status == status]
    assert len(refused) == 2
    assert sorted(m.invoice_number for m in world.eb.mutations) == sorted(world.bookable_invoice_numbers())
