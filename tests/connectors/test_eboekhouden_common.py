"""VAT codes, the afwijkend rule and texts shared by both e-Boekhouden dialects."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from connectors.eboekhouden.common import (
    default_vat_code,
    entry_description,
    explain,
    vat_row,
    vat_table,
)
from connectors.errors import Origin, RejectedError
from connectors.model import BookingLine, ForeignAmount, InvoiceKind, JournalEntry, Party

SALES, PURCHASE = InvoiceKind.SALES, InvoiceKind.PURCHASE
D = Decimal


@pytest.mark.parametrize(
    ("country", "kind", "rate", "reverse", "code"),
    [
        ("NL", SALES, "21", False, "HOOG_VERK_21"),
        ("NL", SALES, "21.00", False, "HOOG_VERK_21"),
        ("NL", SALES, "9", False, "LAAG_VERK_9"),
        ("NL", SALES, "0", False, "GEEN"),
        ("NL", SALES, "0", True, "VERL_VERK"),
        ("NL", PURCHASE, "21", False, "HOOG_INK_21"),
        ("NL", PURCHASE, "9", False, "LAAG_INK_9"),
        ("NL", PURCHASE, "21", True, "VERL_INK"),
        ("NL", SALES, "7", False, None),
        ("BE", SALES, "21", False, "BE_21_VERK"),
        ("BE", SALES, "6", False, "BE_6_VERK"),
        ("BE", SALES, "0", True, "BE_VERL_VERK"),
        ("BE", PURCHASE, "12", False, "BE_12_INK"),
        ("BE", PURCHASE, "21", True, "BE_VERL_21_INK"),
    ],
)
def test_default_vat_codes(
    country: str, kind: InvoiceKind, rate: str, reverse: bool, code: str | None
) -> None:
    assert default_vat_code(country, kind, D(rate), reverse) == code  # type: ignore[arg-type]


def test_tables_are_country_specific() -> None:
    nl = {c.code for c in vat_table("NL")}
    be = {c.code for c in vat_table("BE")}
    soap = {c.code for c in vat_table("NL", soap=True)}
    assert "HOOG_VERK_21" in nl and "HOOG_VERK_21" not in be and "BE_21_VERK" in be
    assert "VERL_INK_L" in nl and "VERL_INK_L" not in soap and "HOOG_VERK" in soap
    hoog = next(c for c in vat_table("NL") if c.code == "HOOG_VERK_21")
    assert hoog.rate == D(21) and hoog.kind is SALES


def line(net: str, vat: str, rate: str = "21", code: str = "HOOG_VERK_21") -> BookingLine:
    return BookingLine(
        account_code="8000", vat_code=code, vat_rate=D(rate), net_amount=D(net), vat_amount=D(vat)
    )


def test_vat_cents_that_round_like_the_vendor_keep_the_code() -> None:
    row = vat_row(line("10.05", "2.11"), SALES, "NL", "F1")  # 2.1105 → 2.11
    assert (row.vat_code, row.vat_amount) == ("HOOG_VERK_21", None)


def test_vat_cents_rounded_per_invoice_choose_afwijkend() -> None:
    row = vat_row(line("10.05", "2.10"), SALES, "NL", "F1")
    assert (row.vat_code, row.vat_amount) == ("AFW_VERK", D("2.10"))
    purchase = vat_row(line("10.05", "2.12", code="HOOG_INK_21"), PURCHASE, "NL", "F1")
    assert (purchase.vat_code, purchase.vat_amount) == ("AFW", D("2.12"))


def test_credit_note_cents_round_half_up_away_from_zero() -> None:
    assert vat_row(line("-0.50", "-0.11"), SALES, "NL", "C1").vat_code == "HOOG_VERK_21"  # -0.105 → -0.11


def test_belgium_has_no_afwijkend_code() -> None:
    with pytest.raises(RejectedError, match="afwijkend"):
        vat_row(line("10.05", "2.10", code="BE_21_VERK"), SALES, "BE", "F1")


def test_code_rate_mismatch_is_a_mapping_error() -> None:
    with pytest.raises(RejectedError) as info:
        vat_row(line("100", "9", rate="9", code="HOOG_VERK_21"), SALES, "NL", "F1")
    assert info.value.origin is Origin.MAPPING and "mapping" in info.value.advice


def entry(foreign: ForeignAmount | None = None) -> JournalEntry:
    return JournalEntry(
        reference="fs:1",
        kind=SALES,
        date=date(2026, 1, 21),
        invoice_number="F2026-1",
        description="Factuur F2026-1 Voorbeeld BV",
        relation=Party(source_id="42", name="Voorbeeld BV"),
        lines=(line("100.00", "21.00"),),
        foreign=foreign,
    )


def test_foreign_invoice_description_carries_amount_and_ecb_rate() -> None:
    assert entry_description(entry()) == "Factuur F2026-1 Voorbeeld BV"
    text = entry_description(
        entry(ForeignAmount(currency="USD", gross=D("130.68"), rate=D("1.0800"), rate_date=date(2026, 1, 20)))
    )
    assert "USD 130.68" in text and "ECB-koers 1.08" in text and "2026-01-20" in text


def test_error_codes_explained_in_dutch_with_vendor_words_kept() -> None:
    message, advice = explain("MUT_007", "Ledger 123 not found")
    assert "Onbekende grootboekrekening" in message and "Ledger 123 not found" in message
    assert "tegenrekening in de mapping" in advice
    assert "Beveiligingscode 1" in explain("ERR_LOGIN", "")[1]
