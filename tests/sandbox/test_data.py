"""The demo data generator: FactuurSturen-style totals, valid identifiers, scale."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import stdnum.be.vat
import stdnum.de.vat
import stdnum.iban
import stdnum.nl.btw

from sandbox import FactuurSturenSim, SandboxServer
from sandbox.data import BE, DE, NL, Invoice, Line, make_demo_invoices


def test_line_total_and_vat_rounding_half_up() -> None:
    # 3 × 12.45 × (1 − 10%) = 33.615 → 33.62 (half up); VAT 9% of 33.62 = 3.0258 → 3.03
    line = Line(Decimal("3"), Decimal("12.45"), 9, "Catering", Decimal("10"))
    assert line.linetotal == Decimal("33.62")
    inv = Invoice(1, "202600001", 100, "2026-01-02", "2026-01-16", (line,))
    assert inv.tax == Decimal("3.03")
    assert inv.totalintax == Decimal("36.65")


def test_vat_is_computed_per_rate_on_the_sum_not_per_line() -> None:
    # Per line: 0.105 → 0.11 twice = 0.22; on the sum 1.00 × 21% = 0.21. FactuurSturen uses the sum.
    lines = (Line(Decimal("1"), Decimal("0.50"), 21, "a"), Line(Decimal("1"), Decimal("0.50"), 21, "b"))
    inv = Invoice(1, "1", 100, "2026-01-02", "2026-01-16", lines)
    assert inv.tax == Decimal("0.21")
    assert inv.taxes == ((21, Decimal("0.21"), Decimal("1.00")),)


def test_credit_note_rounds_away_from_zero() -> None:
    line = Line(Decimal("-1"), Decimal("0.05"), 21, "credit")
    inv = Invoice(1, "1", 100, "2026-01-02", "2026-01-16", (line,))
    assert inv.tax == Decimal("-0.01")  # -0.0105 → -0.01
    assert inv.totalintax == Decimal("-0.06")


def test_generated_mix_is_realistic_and_consistent() -> None:
    data = make_demo_invoices(3000, seed=11)
    invoices = data.invoices
    assert [(i.sent, i.id) for i in invoices] == sorted((i.sent, i.id) for i in invoices)
    assert any(i.totalintax < 0 for i in invoices), "credit notes"
    assert {i.currency for i in invoices} >= {None, "USD", "GBP"}
    assert any(i.tax_shifted for i in invoices)
    legacy = [i for i in invoices if i.legacy]
    assert legacy and all(i.totalintax == 0 and not i.lines and not i.history for i in legacy)
    assert {ln.tax_rate for i in invoices for ln in i.lines} == {0, 9, 21}
    for inv in invoices:
        assert inv.totalintax == sum((ln.linetotal for ln in inv.lines), Decimal(0)) + inv.tax
        assert all(v == v.quantize(Decimal("0.01")) for _, v, _ in inv.taxes)
    for c in data.clients:
        if c.country == NL:
            assert stdnum.nl.btw.is_valid(c.taxnumber), c.taxnumber
            assert stdnum.iban.is_valid(c.iban), c.iban
        elif c.country == BE:
            assert stdnum.be.vat.is_valid(c.taxnumber), c.taxnumber
        elif c.country == DE:
            assert stdnum.de.vat.is_valid(c.taxnumber), c.taxnumber


def test_deterministic_per_seed() -> None:
    a, b = make_demo_invoices(200, seed=5), make_demo_invoices(200, seed=5)
    assert [(i.invoicenr, i.totalintax) for i in a.invoices] == [
        (i.invoicenr, i.totalintax) for i in b.invoices
    ]


def test_scale_100k_is_fast_enough() -> None:
    start = time.perf_counter()
    data = make_demo_invoices(100_000, seed=1)
    elapsed = time.perf_counter() - start
    assert len(data.invoices) == 100_000
    assert elapsed < 15, elapsed  # ~3 s on a laptop; generous for CI
    fs = FactuurSturenSim({"demo": "k"}, quota_per_hour=None)
    fs.load(data)
    since = data.invoices[-300].sent
    with SandboxServer(factuursturen=fs) as srv, httpx.Client(auth=("demo", "k")) as c:
        start = time.perf_counter()
        r = c.get(
            srv.factuursturen_url + "/api/v1/invoices",
            params={"since": since, "count": 250, "offset": 0},
            headers={"Accept": "application/json"},
        )
        assert time.perf_counter() - start < 1.0  # bisect on (sent, id), not a scan
    assert r.status_code == 200 and len(r.json()) == 250 and r.json()[0]["sent"] == since
