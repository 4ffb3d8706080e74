"""UBL e-invoices into the canonical model: the 12 OpenPEPPOL BIS 3 examples (read in place from
../shared/data/ubl/peppol-bis3/) and Dutch SI-UBL 2.0 / Belgian UBL.BE documents built from their specs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from connectors.model import Invoice, VatCategory
from connectors.money import ZERO, quantize
from connectors.ubl.parse import UblProblem, parse_document
from sandbox import ubl as b

PEPPOL = Path(__file__).resolve().parents[3] / "shared" / "data" / "ubl" / "peppol-bis3"
if not PEPPOL.is_dir():  # a worktree sits one level deeper than the checkout CI uses
    PEPPOL = Path(__file__).resolve().parents[4] / "shared" / "data" / "ubl" / "peppol-bis3"
EXAMPLES = sorted(PEPPOL.glob("*.xml"))


def test_all_twelve_examples_are_there() -> None:
    assert len(EXAMPLES) == 12, PEPPOL


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_peppol_example_parses_and_balances_to_the_cent(path: Path) -> None:
    document = parse_document(path.read_bytes())
    invoice = document.invoice
    assert document.profile == "Peppol BIS 3"

    def q(amount: Decimal) -> Decimal:
        return quantize(amount, invoice.currency)

    assert q(sum((ln.net_amount for ln in invoice.lines), ZERO)) == q(invoice.total_net)
    assert q(invoice.total_net + invoice.total_vat) == q(invoice.total_gross)
    assert q(sum((v.vat_amount for v in invoice.vat), ZERO)) == q(invoice.total_vat)
    assert invoice.totals_problems() == []


def _example(name: str) -> Invoice:
    return parse_document((PEPPOL / name).read_bytes()).invoice


def test_credit_note_and_negative_invoice_come_out_mirrored() -> None:
    base = _example("base-example.xml")
    credit = _example("base-creditnote-correction.xml")
    negative = _example("base-negative-inv-correction.xml")
    assert not base.credit_note and base.total_gross == Decimal("1656.25")
    for correction in (credit, negative):
        assert correction.credit_note
        assert correction.total_gross == -base.total_gross
        assert correction.total_vat == -base.total_vat
        assert sorted(ln.net_amount for ln in correction.lines) == sorted(-ln.net_amount for ln in base.lines)


def test_category_o_without_a_rate_is_accepted() -> None:
    invoice = _example("vat-category-O.xml")
    assert invoice.currency == "SEK"
    assert [(v.category, v.rate) for v in invoice.vat] == [(VatCategory.OUTSIDE_SCOPE, ZERO)]


def test_allowances_prepaid_and_tax_currency() -> None:
    invoice = _example("Allowance-example.xml")
    assert invoice.prepaid == Decimal(1000)
    assert invoice.payable == invoice.total_gross - Decimal(1000)
    assert invoice.tax_currency == "SEK" and invoice.tax_currency_vat is not None
    assert {v.category for v in invoice.vat} == {VatCategory.STANDARD, VatCategory.EXEMPT}
    allowance_lines = [ln for ln in invoice.lines if ln.description.startswith(("Korting", "Toeslag"))]
    assert allowance_lines, "document allowances and charges become lines of their own"


def test_norwegian_rounding_and_price_base_quantity() -> None:
    invoice = _example("Norwegian-example-1.xml")
    assert invoice.rounding == Decimal("0.22")
    assert invoice.payable == invoice.total_gross - invoice.prepaid + Decimal("0.22")


def test_tax_representative_and_gln_identifier() -> None:
    invoice = _example("GR-base-example-TaxRepresentative.xml")
    assert ("0088", "1238764941386") in invoice.party.identifiers


def test_dutch_si_ubl_21_and_9_percent() -> None:
    document = parse_document(b.build(b.nl_21_9()))
    invoice = document.invoice
    assert document.profile == "SI-UBL 2.0"
    assert document.identity == "NL004495445B01/DV-2026-0117"
    assert invoice.party.vat_number == "NL004495445B01"
    assert invoice.party.coc_number == "12345678"
    assert invoice.party.iban == "NL91ABNA0417164300"
    assert invoice.customer is not None and invoice.customer.name == "Bakkerij Jansen"
    assert invoice.order_reference == "PO-4471" and invoice.buyer_reference == "Inkoop"
    # 2500 folders at 18.50 per 100 (base quantity), 3.5 h less a 12.50 line discount, 4 books at 9 %.
    assert [ln.net_amount for ln in invoice.lines] == [
        Decimal("462.50"),
        Decimal("215.00"),
        Decimal("99.80"),
        Decimal("-10.00"),
    ]
    assert invoice.lines[0].base_quantity == 100 and invoice.lines[0].unit_code == "H87"
    assert invoice.lines[1].allowances == Decimal("12.50")
    by_rate = {v.rate: v.vat_amount for v in invoice.vat}
    assert by_rate == {Decimal(21): Decimal("140.18"), Decimal(9): Decimal("8.98")}
    assert invoice.total_gross == Decimal("916.46")
    assert invoice.warnings == ()


def test_belgian_ubl_be_6_12_21() -> None:
    document = parse_document(b.build(b.be_6_12_21()))
    assert document.profile == "UBL.BE"
    invoice = document.invoice
    assert invoice.party.country == "BE" and ("0208", "0403170701") in invoice.party.identifiers
    assert {v.rate: v.vat_amount for v in invoice.vat} == {
        Decimal(6): Decimal("252.00"),
        Decimal(12): Decimal("102.14"),
        Decimal(21): Decimal("199.50"),
    }
    assert invoice.total_gross == Decimal("6554.84")


def test_belgian_reverse_charge_service_to_the_netherlands() -> None:
    invoice = parse_document(b.build(b.be_nl_reverse_charge())).invoice
    assert [(v.category, v.rate, v.vat_amount) for v in invoice.vat] == [
        (VatCategory.REVERSE_CHARGE, ZERO, ZERO)
    ]
    assert invoice.vat[0].exemption_reason.startswith("Btw verlegd")
    assert invoice.total_gross == Decimal("1320.00")


def test_foreign_currency_keeps_the_original_and_the_tax_currency() -> None:
    invoice = parse_document(b.build(b.usd_invoice())).invoice
    assert invoice.currency == "USD" and invoice.total_gross == Decimal("1250.00")
    assert invoice.tax_currency == "EUR"
    assert invoice.party.vat_number == "" and invoice.party.identifiers == (("0088", "0614141000036"),)


def test_credit_note_built_from_the_dutch_spec_is_negative() -> None:
    invoice = parse_document(b.build(b.nl_21_9("CN-2026-0003", root="CreditNote"))).invoice
    assert invoice.credit_note and invoice.total_gross == Decimal("-916.46")
    assert invoice.due_date is not None  # from PaymentMeans/PaymentDueDate in a CreditNote


def test_a_header_that_does_not_balance_names_the_bt_and_the_difference() -> None:
    spoiled = b.build(b.nl_21_9(spoil={"TaxInclusiveAmount": Decimal("0.01")}))
    with pytest.raises(UblProblem) as caught:
        parse_document(spoiled)
    assert "BT-112" in caught.value.message
    assert "verschil 0.01" in caught.value.message
    assert caught.value.element == "/Invoice/cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount"


def test_a_line_that_differs_from_quantity_times_price_keeps_its_amount_with_a_warning() -> None:
    line = b.Line("Koffiebonen", Decimal(3), Decimal("12.99"), rate=Decimal(9), stated=Decimal("38.98"))
    invoice = parse_document(b.build(b.nl_21_9(lines=(line,), allowance=None))).invoice
    assert invoice.lines[0].net_amount == Decimal("38.98")
    assert any("38.97" in w and "38.98" in w and "BT-131" in w for w in invoice.warnings)


def test_invalid_iban_and_vat_number_are_warnings() -> None:
    supplier = b.Org("Foutje B.V.", "NL", vat="NL123456789B99")
    invoice = parse_document(b.build(b.nl_21_9(supplier=supplier, iban="NL00ABNA0000000000"))).invoice
    assert invoice.party.iban == ""
    assert any("IBAN" in w for w in invoice.warnings)
    assert any("btw-nummer NL123456789B99" in w for w in invoice.warnings)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<Order xmlns='urn:oasis:names:specification:ubl:schema:xsd:Order-2'/>", "hoofdelement is <Order>"),
        (b.build(b.nl_21_9())[:-200], "geen geldige XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><r>&b;</r>',
            "DTD of entiteiten",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
            "DTD of entiteiten",
        ),
        (b.build(b.nl_21_9(customization="urn:example:own")), "onbekend e-factuurprofiel"),
    ],
    ids=["wrong-root", "truncated", "entity-bomb", "external-entity", "unknown-profile"],
)
def test_what_is_not_a_bookable_ubl_document_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(UblProblem) as caught:
        parse_document(data)
    assert reason in caught.value.message
    assert caught.value.element and caught.value.advice


def test_a_file_over_the_size_cap_is_not_parsed() -> None:
    with pytest.raises(UblProblem, match="groter dan de grens"):
        parse_document(b.build(b.nl_21_9()), limit=1000)
