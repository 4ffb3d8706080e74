"""Mapping an invoice to a booking: the right tegenrekening, btw-code, kostenplaats and dagboek, and amounts
exact to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.contract import RateLimit
from connectors.eboekhouden.common import default_vat_code
from connectors.model import Invoice, InvoiceKind, InvoiceLine, Party, VatCategory, VatSubtotal
from connectors.money import quantize
from state.settings import CurrencyPolicy, Koppeling, Mapping
from sync.fx import EcbRates
from sync.mapping import Mapper, MappingProblem, allocate

D = Decimal
CUSTOMER = Party(source_id="42", name="Bakkerij De Vries B.V.", vat_number="NL853746333B01", city="Utrecht")


class EBoekhoudenDefaults:
    """The one BookingTarget method the mapper uses, backed by e-Boekhouden's real VAT table."""

    system = "eboekhouden"
    rate_limit = RateLimit(5, 1)

    def default_vat_code(self, kind: InvoiceKind, rate: Decimal, reverse_charge: bool) -> str | None:
        return default_vat_code("NL", kind, rate, reverse_charge)


def koppeling(**mapping: object) -> Koppeling:
    return Koppeling(source="factuursturen", target="boekhouding", mapping=Mapping.model_validate(mapping))


def invoice(
    lines: list[tuple[str, str]],
    currency: str = "EUR",
    number: str = "F2026-0013",
    *,
    groups: list[str] | None = None,
    kind: InvoiceKind = InvoiceKind.SALES,
) -> Invoice:
    """lines: (net, rate) pairs, `groups` their productgroepen; VAT per rate on the sum, as FactuurSturen
    computes it."""
    parsed = [
        InvoiceLine(description=f"regel {i}", net_amount=D(n), vat_rate=D(r), product_group=g)
        for i, ((n, r), g) in enumerate(zip(lines, groups or [""] * len(lines), strict=True))
    ]
    rates = sorted({ln.vat_rate for ln in parsed})
    vat = []
    for rate in rates:
        base = sum((ln.net_amount for ln in parsed if ln.vat_rate == rate), D(0))
        vat.append(VatSubtotal(rate=rate, taxable_amount=base, vat_amount=quantize(base * rate / 100)))
    net = sum((ln.net_amount for ln in parsed), D(0))
    tax = sum((v.vat_amount for v in vat), D(0))
    return Invoice(
        source="factuursturen",
        source_id="20260013",
        number=number,
        kind=kind,
        issue_date=date(2026, 3, 12),
        currency=currency,
        party=CUSTOMER,
        lines=tuple(parsed),
        vat=tuple(vat),
        total_net=net,
        total_vat=tax,
        total_gross=net + tax,
        credit_note=net < 0,
    )


def test_sales_invoice_books_on_the_chosen_tegenrekening_with_the_vendors_btw_code() -> None:
    mapper = Mapper(koppeling(tegenrekening_verkoop="8000"), EBoekhoudenDefaults())  # type: ignore[arg-type]
    entry = mapper.to_entry(invoice([("52.00", "21"), ("10.00", "9")]), "factuursturen:20260013")
    assert [(ln.account_code, ln.vat_code, ln.net_amount, ln.vat_amount) for ln in entry.lines] == [
        ("8000", "HOOG_VERK_21", D("52.00"), D("10.92")),
        ("8000", "LAAG_VERK_9", D("10.00"), D("0.90")),
    ]
    assert entry.total_gross == D("73.82")


def test_tegenrekening_per_vat_rate_overrides_the_default() -> None:
    mapper = Mapper(
        koppeling(tegenrekening_verkoop="8000", tegenrekening={"verkoop:9": "8010"}),
        EBoekhoudenDefaults(),  # type: ignore[arg-type]
    )
    entry = mapper.to_entry(invoice([("100.00", "21"), ("40.00", "9")]), "r")
    assert {ln.vat_code: ln.account_code for ln in entry.lines} == {
        "HOOG_VERK_21": "8000",
        "LAAG_VERK_9": "8010",
    }


def test_unmapped_tegenrekening_is_a_mapping_problem_with_what_to_do() -> None:
    mapper = Mapper(koppeling(), EBoekhoudenDefaults())  # type: ignore[arg-type]
    with pytest.raises(MappingProblem) as caught:
        mapper.to_entry(invoice([("100.00", "21")]), "r")
    assert caught.value.key == "tegenrekening_verkoop"
    assert "Mapping" in caught.value.advice


def test_unknown_vat_rate_is_a_mapping_problem_naming_the_rate() -> None:
    mapper = Mapper(koppeling(tegenrekening_verkoop="8000"), EBoekhoudenDefaults())  # type: ignore[arg-type]
    with pytest.raises(MappingProblem) as caught:
        mapper.to_entry(invoice([("100.00", "7")]), "r")
    assert "7%" in caught.value.title
    assert caught.value.key == "verkoop:7"


def test_explicit_btw_code_mapping_wins_over_the_default() -> None:
    mapper = Mapper(
        koppeling(tegenrekening_verkoop="8000", btw_codes={"verkoop:7": "AFW_VERK"}),
        EBoekhoudenDefaults(),  # type: ignore[arg-type]
    )
    entry = mapper.to_entry(invoice([("100.00", "7")]), "r")
    assert entry.lines[0].vat_code == "AFW_VERK"


def test_reverse_charge_line_gets_the_verlegd_code() -> None:
    inv = invoice([("500.00", "0")])
    line = inv.lines[0].model_copy(update={"vat_category": VatCategory.REVERSE_CHARGE})
    inv = inv.model_copy(update={"lines": (line,)})
    mapper = Mapper(koppeling(tegenrekening_verkoop="8000"), EBoekhoudenDefaults())  # type: ignore[arg-type]
    assert mapper.to_entry(inv, "r").lines[0].vat_code == "VERL_VERK"


def test_foreign_invoice_is_converted_at_the_ecb_rate_of_the_invoice_date_and_keeps_the_original() -> None:
    mapper = Mapper(koppeling(tegenrekening_verkoop="8000"), EBoekhoudenDefaults())  # type: ignore[arg-type]
    inv = invoice([("1000.00", "21")], currency="USD")
    entry = mapper.to_entry(inv, "r")
    rate, day = EcbRates().rate("USD", date(2026, 3, 12))
    assert entry.foreign is not None
    assert (entry.foreign.currency, entry.foreign.gross, entry.foreign.rate) == ("USD", D("1210.00"), rate)
    assert entry.foreign.rate_date == day
    assert entry.total_net == quantize(D("1000.00") / rate)
    assert entry.total_vat == quantize(D("210.00") / rate)


def test_weekend_invoice_uses_the_friday_rate() -> None:
    rate, day = EcbRates().rate("GBP", date(2026, 3, 14))  # a Saturday
    assert day == date(2026, 3, 13)
    assert rate == EcbRates().rate("GBP", date(2026, 3, 13))[0]


def test_refuse_policy_parks_foreign_invoices() -> None:
    k = koppeling(tegenrekening_verkoop="8000").model_copy(update={"currency_policy": CurrencyPolicy.REFUSE})
    with pytest.raises(MappingProblem, match="USD"):
        Mapper(k, EBoekhoudenDefaults()).to_entry(invoice([("10.00", "21")], currency="USD"), "r")  # type: ignore[arg-type]


def test_kostenplaats_of_the_soort_goes_on_every_line_and_a_product_group_of_its_own_wins() -> None:
    mapper = Mapper(
        koppeling(
            tegenrekening_verkoop="8000",
            kostenplaatsen={"verkoop": "KP-WINKEL", "inkoop": "KP-INKOOP", "groep:Advies": "KP-ADVIES"},
        ),
        EBoekhoudenDefaults(),  # type: ignore[arg-type]
    )
    inv = invoice([("100.00", "21"), ("40.00", "21"), ("10.00", "9")], groups=["", "Advies", "Brood"])
    entry = mapper.to_entry(inv, "r")
    # Same tegenrekening and btw-code, different kostenplaats: two booking lines, not one.
    assert sorted((ln.cost_center, ln.net_amount) for ln in entry.lines) == [
        ("KP-ADVIES", D("40.00")),
        ("KP-WINKEL", D("10.00")),
        ("KP-WINKEL", D("100.00")),
    ]


def test_without_kostenplaatsen_lines_carry_none_and_without_dagboeken_the_connection_decides() -> None:
    mapper = Mapper(koppeling(tegenrekening_verkoop="8000"), EBoekhoudenDefaults())  # type: ignore[arg-type]
    entry = mapper.to_entry(invoice([("100.00", "21")], groups=["Advies"]), "r")
    assert [ln.cost_center for ln in entry.lines] == [""]
    assert entry.journal == ""


def test_each_soort_gets_its_own_kostenplaats_and_dagboek() -> None:
    mapper = Mapper(
        koppeling(
            tegenrekening_inkoop="4000",
            kostenplaatsen={"verkoop": "KP-VERKOOP", "inkoop": "KP-INKOOP"},
            dagboeken={"verkoop": "71", "inkoop": "61"},
        ),
        EBoekhoudenDefaults(),  # type: ignore[arg-type]
    )
    purchase = mapper.to_entry(invoice([("100.00", "21")], kind=InvoiceKind.PURCHASE), "r")
    assert (purchase.journal, purchase.lines[0].cost_center) == ("61", "KP-INKOOP")
    sales = Mapper(
        koppeling(
            tegenrekening_verkoop="8000", kostenplaatsen={"inkoop": "KP-INKOOP"}, dagboeken={"inkoop": "61"}
        ),
        EBoekhoudenDefaults(),  # type: ignore[arg-type]
    ).to_entry(invoice([("100.00", "21")]), "r")
    # The inkoop choices say nothing about sales: the verkoopboek stays the connection's.
    assert (sales.journal, sales.lines[0].cost_center) == ("", "")


# -- properties -----------------------------------------------------------------------------------------

cents = st.integers(min_value=-10_000_000, max_value=10_000_000).map(lambda c: D(c) / 100)
rates = st.sampled_from([D(0), D(9), D(21)])


@given(st.lists(st.decimals(min_value=-(10**6), max_value=10**6, places=6), min_size=1, max_size=12), cents)
def test_allocate_always_sums_exactly_to_the_total(parts: list[Decimal], total: Decimal) -> None:
    shares = allocate(total, parts)
    assert sum(shares, D(0)) == total
    assert all(share == quantize(share) for share in shares)


# The mapper's examples take tens of milliseconds (ECB rates, pydantic) and several times that on a busy
# 2-core machine: the property is about cents, not time, so no per-example deadline.
@settings(deadline=None)
@given(
    st.lists(st.tuples(cents, rates), min_size=1, max_size=15), st.sampled_from(["EUR", "USD", "GBP", "JPY"])
)
def test_booking_always_equals_the_invoice_to_the_cent(
    lines: list[tuple[Decimal, Decimal]], currency: str
) -> None:
    inv = invoice([(str(n), str(r)) for n, r in lines], currency=currency) if currency != "JPY" else None
    if inv is None:  # JPY has no cents: build the lines in whole yen
        inv = invoice([(str(n.to_integral_value()), str(r)) for n, r in lines], currency="JPY")
    mapper = Mapper(
        koppeling(tegenrekening_verkoop="8000", tegenrekening={"verkoop:9": "8010", "verkoop:0": "8020"}),
        EBoekhoudenDefaults(),  # type: ignore[arg-type]
    )
    entry = mapper.to_entry(inv, "r")
    if currency == "EUR":
        assert entry.total_net == inv.total_net
        assert entry.total_vat == inv.total_vat
        assert entry.total_gross == inv.total_gross
    else:
        assert entry.foreign is not None
        assert entry.total_net == quantize(inv.total_net / entry.foreign.rate)
        assert entry.total_vat == quantize(inv.total_vat / entry.foreign.rate)
    for rate in {r for _, r in lines}:
        booked_vat = sum((ln.vat_amount for ln in entry.lines if ln.vat_rate == rate), D(0))
        if currency == "EUR":
            assert booked_vat == next(v.vat_amount for v in inv.vat if v.rate == rate)


product_groups = st.sampled_from(["", "Advies", "Brood", "Taart"])


@settings(deadline=None)
@given(
    st.lists(st.tuples(cents, rates, product_groups), min_size=1, max_size=15),
    st.dictionaries(product_groups.filter(bool), st.sampled_from(["KP1", "KP2", ""]), max_size=3),
    st.sampled_from(["", "KP-STANDAARD"]),
    st.sampled_from([InvoiceKind.SALES, InvoiceKind.PURCHASE]),
)
def test_every_line_books_on_its_groups_kostenplaats_else_the_soorts_and_amounts_stay_exact(
    lines: list[tuple[Decimal, Decimal, str]],
    per_group: dict[str, str],
    default: str,
    kind: InvoiceKind,
) -> None:
    word = "verkoop" if kind is InvoiceKind.SALES else "inkoop"
    other = "inkoop" if word == "verkoop" else "verkoop"
    kostenplaatsen = {f"groep:{g}": kp for g, kp in per_group.items()} | {word: default, other: "KP-ANDERS"}
    mapper = Mapper(
        koppeling(
            tegenrekening_verkoop="8000",
            tegenrekening_inkoop="4000",
            kostenplaatsen=kostenplaatsen,
            dagboeken={word: "DB-" + word},
        ),
        EBoekhoudenDefaults(),  # type: ignore[arg-type]
    )
    inv = invoice([(str(n), str(r)) for n, r, _ in lines], groups=[g for *_, g in lines], kind=kind)
    entry = mapper.to_entry(inv, "r")

    def expected(group: str) -> str:
        return per_group.get(group) or default

    # Net per kostenplaats on the booking is exactly what the invoice's lines for it add up to.
    wanted: dict[str, Decimal] = {}
    for n, _, g in lines:
        wanted[expected(g)] = wanted.get(expected(g), D(0)) + n
    booked: dict[str, Decimal] = {}
    for ln in entry.lines:
        booked[ln.cost_center] = booked.get(ln.cost_center, D(0)) + ln.net_amount
    assert booked == wanted
    assert "KP-ANDERS" not in booked
    assert entry.total_gross == inv.total_gross
    assert entry.journal == "DB-" + word
