"""Malformed FactuurSturen data through a whole run: a clear foutmelding per record, or a clear page
failure; never a booking of a broken invoice, and the cursor never moves past what was not settled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.data import NL
from sandbox.faults import ABSENT
from sync.engine import RunStatus
from tests.world import World, sandbox_world

INVOICES = "/api/v1/invoices"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with sandbox_world(tmp_path, api="rest", invoices=0) as w:
        client = w.fs.add_client("Bakkerij De Vries B.V.", country=NL, taxnumber="NL004495445B01").clientnr
        for day in ("2026-01-05", "2026-01-06", "2026-01-07"):
            w.fs.add_invoice(client, [(2, "50.00", 21, "Brood")], sent=day)
        yield w


def numbers(world: World) -> list[str]:
    return [i.invoicenr_full for i in world.fs.invoices]


@pytest.mark.parametrize(
    ("attribute", "value", "words"),
    [
        ("totalintax", ABSENT, "totalintax ontbreekt"),
        ("tax", "twaalf euro", "'twaalf euro' is not an amount"),
        ("totalintax", "1e400", "geen geloofwaardig bedrag"),
        ("totalintax", "99999999999999.99", "geen geloofwaardig bedrag"),
        ("totalintax", "-121.00", "tellen op tot"),  # a negative total under positive lines
        ("lines.line1.price", "NaN", "is not an amount"),
        ("currency", "XYZ", "onbekende valuta 'XYZ'"),
        ("sent", "zzz", "'zzz' is geen datum"),
        ("lines", "kapot", "onverwacht formaat"),
    ],
)
async def test_a_malformed_invoice_parks_a_clear_foutmelding_and_the_others_are_booked(
    world: World, attribute: str, value: Any, words: str
) -> None:
    broken = numbers(world)[1]
    world.fs.faults.add("mangle", path=INVOICES, attribute=attribute, value=value, index=1)

    report = await world.run()

    assert report.status is RunStatus.PARTIAL, report.problems
    booked = world.bookings_per_invoice()
    assert set(booked) == set(numbers(world)) - {broken} and set(booked.values()) == {1}
    store = world.store()
    [problem] = store.foutmeldingen("facturen")
    [(_reference, detail, _exchange)] = store.problem_records(problem.id)
    assert words in detail and broken in detail, detail
    # The cursor went past the parked invoice (it is settled: parked), never beyond what was read.
    assert world.store().cursor("facturen", "invoices") == "2026-01-07"


@pytest.mark.parametrize("payload", ["invalid_json", "huge_json"])
async def test_an_unreadable_page_fails_the_run_clearly_and_keeps_the_cursor(
    world: World, payload: str
) -> None:
    world.fs.faults.add("hostile", path=INVOICES, payload=payload)

    report = await world.run()

    assert report.status is RunStatus.FAILED
    assert world.booking_count() == 0 and world.store().cursor("facturen", "invoices") is None
    [problem] = world.store().foutmeldingen("facturen")
    reason = "geen geldige JSON" if payload == "invalid_json" else "geen lijst facturen"
    assert reason in problem.title, problem.title

    world.fs.faults.clear()
    assert (await world.run()).status is RunStatus.OK
    assert world.booking_count() == 3 and world.store().cursor("facturen", "invoices") == "2026-01-07"
