"""A UBL 2.1 e-invoice (Peppol BIS 3, SI-UBL 2.0 / NLCIUS, UBL.BE) into the canonical model.

Amounts are read as Decimal, credit notes are mirrored to negative amounts (the canonical sign of a
credit), and the totals are checked the way EN 16931 defines them (BR-CO-10…16 and the VAT breakdown
per category). A header that does not add up is refused with the BT number and the difference; a line
whose amount differs from quantity × price keeps the amount it states, with a warning.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from stdnum import ean, iban, vatin
from stdnum.be import vat as be_vat
from stdnum.exceptions import ValidationError as StdnumError

from connectors import vatnumber, xmlsafe
from connectors.model import (
    Attachment,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    Party,
    VatCategory,
    VatSubtotal,
)
from connectors.money import ZERO, quantize

NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
ROOTS = {
    "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice": "Invoice",
    "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote": "CreditNote",
}
# A document larger than this is refused unread; an embedded PDF makes an invoice a few MB at most.
SIZE_LIMIT = 20 * 1024 * 1024
# Credit note type codes (UNCL 1001) that may also arrive in an Invoice root.
CREDIT_TYPE_CODES = {"381", "396", "81", "83", "532"}

# CustomizationID → the profile, most specific first: the Dutch and Belgian CIUS name themselves after
# the EN 16931 core, Peppol BIS 3 names its own billing specification.
PROFILES = (
    ("urn:fdc:nen.nl:nlcius:", "SI-UBL 2.0"),
    ("urn:fdc:nen.nl:gaccount:", "SI-UBL 2.0 (G-rekening)"),
    ("UBL.BE", "UBL.BE"),
    ("urn:fdc:peppol.eu:2017:poacc:billing:", "Peppol BIS 3"),
    ("urn:cen.eu:en16931:2017", "EN 16931"),
)


class UblProblem(ValueError):
    """The document cannot be booked: `element` says where (an XPath), `advice` what to do."""

    def __init__(self, message: str, *, element: str = "", advice: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.element = element
        self.advice = advice or "Vraag de leverancier om een gecorrigeerde e-factuur."


@dataclass(frozen=True)
class Document:
    """A parsed e-invoice: the invoice, which profile it follows, and its identity."""

    invoice: Invoice
    profile: str
    supplier_key: str  # the supplier's most stable id: VAT number, else a registration, else the name

    @property
    def identity(self) -> str:
        """Supplier and invoice number: one document, however often it is sent."""
        return f"{self.supplier_key}/{self.invoice.number}"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_document(data: bytes, *, source: str = "ubl-inbox", limit: int = SIZE_LIMIT) -> Document:
    """The invoice in `data`; raises UblProblem naming the element and the reason."""
    try:
        root = xmlsafe.parse(data, limit=limit)
    except xmlsafe.UnsafeXml as exc:
        raise UblProblem(
            f"onleesbaar: {exc}",
            element="/",
            advice="Vraag de leverancier de e-factuur opnieuw te sturen; een half gekopieerd bestand"
            " kan opnieuw in de inbox worden gezet.",
        ) from None
    return _Reader(root).document(source)


def profile_of(customization_id: str) -> str | None:
    for marker, profile in PROFILES:
        if marker in customization_id:
            return profile
    return None


class _Reader:
    def __init__(self, root: ET.Element) -> None:
        kind = ROOTS.get(root.tag)
        if kind is None:
            local = root.tag.rsplit("}", 1)[-1]
            raise UblProblem(
                f"geen UBL-factuur: het hoofdelement is <{local}>, verwacht <Invoice> of <CreditNote>"
                " (UBL 2.1)",
                element=f"/{local}",
                advice="Alleen UBL 2.1 Invoice en CreditNote worden geboekt; boek dit document handmatig.",
            )
        self.root = root
        self.kind = kind
        self.line_tag = "cac:InvoiceLine" if kind == "Invoice" else "cac:CreditNoteLine"
        self.quantity_tag = "cbc:InvoicedQuantity" if kind == "Invoice" else "cbc:CreditedQuantity"
        self.warnings: list[str] = []

    # --- elements

    def _path(self, path: str) -> str:
        return f"/{self.kind}/{path}"

    def text(self, path: str, node: ET.Element | None = None) -> str:
        found = (self.root if node is None else node).find(path, NS)
        return (found.text or "").strip() if found is not None else ""

    def required(self, path: str, what: str, node: ET.Element | None = None, where: str = "") -> str:
        value = self.text(path, node)
        if not value:
            raise UblProblem(f"{what} ontbreekt", element=where or self._path(path))
        return value

    def amount(self, path: str, bt: str, node: ET.Element | None = None, where: str = "") -> Decimal:
        return self._decimal(self.required(path, bt, node, where), bt, where or self._path(path))

    def optional_amount(self, path: str, bt: str, node: ET.Element | None = None, where: str = "") -> Decimal:
        text = self.text(path, node)
        return self._decimal(text, bt, where or self._path(path)) if text else ZERO

    @staticmethod
    def _decimal(text: str, what: str, where: str) -> Decimal:
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise UblProblem(f"{what}: '{text[:40]}' is geen getal", element=where) from None
        if not value.is_finite():
            raise UblProblem(f"{what}: '{text[:40]}' is geen getal", element=where)
        return value

    def date(self, path: str, what: str, node: ET.Element | None = None) -> date | None:
        text = self.text(path, node)
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise UblProblem(
                f"{what}: '{text[:40]}' is geen datum (JJJJ-MM-DD)", element=self._path(path)
            ) from None

    # --- the document

    def document(self, source: str) -> Document:
        customization = self.required("cbc:CustomizationID", "CustomizationID (BT-24)")
        profile = profile_of(customization)
        if profile is None:
            raise UblProblem(
                f"onbekend e-factuurprofiel '{customization[:120]}'",
                element=self._path("cbc:CustomizationID"),
                advice="Koppelaar leest Peppol BIS 3, SI-UBL 2.0 (NLCIUS) en UBL.BE; vraag de leverancier"
                " een e-factuur in een van die profielen.",
            )
        number = self.required("cbc:ID", "Factuurnummer (BT-1)")
        issue = self.date("cbc:IssueDate", "Factuurdatum (BT-2)")
        if issue is None:
            raise UblProblem("Factuurdatum (BT-2) ontbreekt", element=self._path("cbc:IssueDate"))
        due = self.date("cbc:DueDate", "Vervaldatum (BT-9)") or self.date(
            "cac:PaymentMeans/cbc:PaymentDueDate", "Vervaldatum (BT-9)"
        )
        type_code = self.text("cbc:InvoiceTypeCode") or self.text("cbc:CreditNoteTypeCode")
        currency = self.required("cbc:DocumentCurrencyCode", "Valuta (BT-5)").upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise UblProblem(
                f"Valuta (BT-5) '{currency}' is geen ISO 4217-code",
                element=self._path("cbc:DocumentCurrencyCode"),
            )
        tax_currency = self.text("cbc:TaxCurrencyCode").upper()
        # A CreditNote states positive amounts; the canonical credit is negative.
        sign = Decimal(-1) if self.kind == "CreditNote" else Decimal(1)

        supplier_node = self._node("cac:AccountingSupplierParty/cac:Party", "Leverancier (BG-4)")
        supplier, supplier_key = self.party(supplier_node, "cac:AccountingSupplierParty/cac:Party")
        supplier = supplier.model_copy(update={"iban": self.payee_iban()})
        customer_node = self.root.find("cac:AccountingCustomerParty/cac:Party", NS)
        customer = (
            self.party(customer_node, "cac:AccountingCustomerParty/cac:Party")[0]
            if customer_node is not None
            else None
        )

        lines = [
            self.line(node, i, currency) for i, node in enumerate(self.root.findall(self.line_tag, NS), 1)
        ]
        if not lines:
            raise UblProblem("de factuur heeft geen regels (BG-25)", element=self._path(self.line_tag))
        document_ac = [
            self.allowance_charge(node, i)
            for i, node in enumerate(self.root.findall("cac:AllowanceCharge", NS), 1)
        ]
        subtotals = self.vat_breakdown(currency)
        totals = self.totals()
        self.check_totals(lines, document_ac, subtotals, totals, currency)

        canonical_lines = [ln.canonical(sign) for ln in lines] + [ac.canonical(sign) for ac in document_ac]
        attachments = tuple(self.attachments())
        payment_id = self.text("cac:PaymentMeans/cbc:PaymentID")
        invoice = Invoice(
            source=source,
            source_id=f"{supplier_key}/{number}",
            number=number,
            kind=InvoiceKind.PURCHASE,
            credit_note=(
                self.kind == "CreditNote" or type_code in CREDIT_TYPE_CODES or totals.gross * sign < 0
            ),
            issue_date=issue,
            due_date=due,
            currency=currency,
            party=supplier,
            customer=customer,
            lines=tuple(canonical_lines),
            vat=tuple(
                VatSubtotal(
                    rate=s.rate,
                    category=s.category,
                    taxable_amount=sign * s.taxable,
                    vat_amount=sign * s.vat,
                    exemption_reason=s.exemption_reason,
                )
                for s in subtotals
            ),
            total_net=sign * totals.tax_exclusive,
            total_vat=sign * totals.vat,
            total_gross=sign * totals.gross,
            prepaid=sign * totals.prepaid,
            rounding=sign * totals.rounding,
            tax_currency=tax_currency if tax_currency and tax_currency != currency else "",
            tax_currency_vat=(
                sign * totals.tax_currency_vat
                if totals.tax_currency_vat is not None and tax_currency and tax_currency != currency
                else None
            ),
            payment_reference=payment_id,
            buyer_reference=self.text("cbc:BuyerReference"),
            order_reference=self.text("cac:OrderReference/cbc:ID"),
            description=self.text("cbc:Note")[:200],
            attachments=attachments,
            warnings=tuple(self.warnings),
        )
        return Document(invoice=invoice, profile=profile, supplier_key=supplier_key)

    def _node(self, path: str, what: str) -> ET.Element:
        node = self.root.find(path, NS)
        if node is None:
            raise UblProblem(f"{what} ontbreekt", element=self._path(path))
        return node

    # --- parties

    def party(self, node: ET.Element, where: str) -> tuple[Party, str]:
        name = self.text("cac:PartyLegalEntity/cbc:RegistrationName", node) or self.text(
            "cac:PartyName/cbc:Name", node
        )
        if not name:
            raise UblProblem(
                "naam ontbreekt (BT-27/BT-44)",
                element=self._path(f"{where}/cac:PartyLegalEntity/cbc:RegistrationName"),
            )
        country = self.text("cac:PostalAddress/cac:Country/cbc:IdentificationCode", node).upper() or "NL"
        raw_vat = ""
        for scheme in node.findall("cac:PartyTaxScheme", NS):
            if self.text("cac:TaxScheme/cbc:ID", scheme).upper() == "VAT":
                raw_vat = self.text("cbc:CompanyID", scheme)
                break
        vat = ""
        if raw_vat:
            vat = vatnumber.normalise(raw_vat, country) or _non_eu_vat(raw_vat)
            if not vat:
                vat = re.sub(r"[\s.\-]", "", raw_vat).upper()
                self.warnings.append(
                    f"{name}: btw-nummer {raw_vat} is geen geldig EU-btw-nummer ({where}/cac:PartyTaxScheme/cbc:CompanyID)"
                )
        identifiers = self.identifiers(node, name, where)
        schemes = dict(identifiers)
        street = " ".join(
            t
            for t in (
                self.text("cac:PostalAddress/cbc:StreetName", node),
                self.text("cac:PostalAddress/cbc:AdditionalStreetName", node),
            )
            if t
        )
        party = Party(
            source_id="",
            name=name,
            vat_number=vat,
            coc_number=schemes.get("0106", ""),
            address=street,
            postal_code=self.text("cac:PostalAddress/cbc:PostalZone", node),
            city=self.text("cac:PostalAddress/cbc:CityName", node),
            country=country,
            email=self.text("cac:Contact/cbc:ElectronicMail", node),
            identifiers=identifiers,
        )
        key = (
            vat
            or next(
                (
                    f"{scheme}:{value}"
                    for scheme, value in identifiers
                    if scheme in ("0106", "0208", "0190", "0088")
                ),
                "",
            )
            or next((f"{scheme}:{value}" for scheme, value in identifiers), "")
            or f"naam:{name.casefold()}"
        )
        # A short, stable relation code (target codes are short: Exact's search code holds 10).
        code = hashlib.sha256(key.encode()).hexdigest()[:7].upper()
        return party.model_copy(update={"source_id": code}), key

    def identifiers(self, node: ET.Element, name: str, where: str) -> tuple[tuple[str, str], ...]:
        found: list[tuple[str, str]] = []
        candidates: Iterable[ET.Element | None] = [
            node.find("cbc:EndpointID", NS),
            *node.findall("cac:PartyIdentification/cbc:ID", NS),
            node.find("cac:PartyLegalEntity/cbc:CompanyID", NS),
        ]
        for element in candidates:
            if element is None or not (element.text or "").strip():
                continue
            scheme = (element.get("schemeID") or "").strip()
            value = re.sub(r"\s", "", element.text or "")
            if not _valid_identifier(scheme, value):
                self.warnings.append(
                    f"{name}: {_SCHEME_NAMES.get(scheme, 'nummer')} {value} is ongeldig ({where})"
                )
                continue
            if scheme in ("9944", "9925") or (scheme, value) in found:
                continue  # a VAT number as endpoint: already the party's VAT number
            found.append((scheme, value))
        return tuple(found)

    def payee_iban(self) -> str:
        for account in self.root.findall("cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID", NS):
            text = re.sub(r"\s", "", account.text or "").upper()
            if not text:
                continue
            try:
                return str(iban.validate(text))
            except StdnumError:
                self.warnings.append(
                    f"rekeningnummer {text} is geen geldig IBAN (/{self.kind}/cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID)"
                )
        return ""

    # --- lines, allowances and charges, VAT

    def category(self, node: ET.Element, path: str, where: str) -> tuple[VatCategory, Decimal]:
        code = self.required(f"{path}/cbc:ID", "btw-categorie (BT-151/BT-118)", node, where)
        try:
            category = VatCategory(code.upper())
        except ValueError:
            raise UblProblem(f"onbekende btw-categorie '{code}' (UNCL 5305)", element=where) from None
        # A category without a rate (O: outside the scope of VAT) is valid; its rate is nil.
        rate = self.optional_amount(f"{path}/cbc:Percent", "btw-percentage", node, where)
        return category, rate

    def line(self, node: ET.Element, index: int, currency: str) -> _Line:
        line_id = self.text("cbc:ID", node) or str(index)
        where = self._path(f"{self.line_tag}[{index}]")
        quantity = self.amount(self.quantity_tag, "Aantal (BT-129)", node, f"{where}/{self.quantity_tag}")
        quantity_node = node.find(self.quantity_tag, NS)
        unit = (quantity_node.get("unitCode") or "") if quantity_node is not None else ""
        stated = self.amount(
            "cbc:LineExtensionAmount", "Regelbedrag (BT-131)", node, f"{where}/cbc:LineExtensionAmount"
        )
        price = self.amount(
            "cac:Price/cbc:PriceAmount", "Prijs (BT-146)", node, f"{where}/cac:Price/cbc:PriceAmount"
        )
        base_text = self.text("cac:Price/cbc:BaseQuantity", node)
        base = self._decimal(base_text, "Basishoeveelheid (BT-149)", where) if base_text else Decimal(1)
        if base == 0:
            raise UblProblem(
                "Basishoeveelheid (BT-149) is nul", element=f"{where}/cac:Price/cbc:BaseQuantity"
            )
        allowances = charges = ZERO
        for ac in node.findall("cac:AllowanceCharge", NS):
            amount = self.amount(
                "cbc:Amount", "Regelkorting/-toeslag (BT-136/BT-141)", ac, f"{where}/cac:AllowanceCharge"
            )
            if self.text("cbc:ChargeIndicator", ac).lower() == "true":
                charges += amount
            else:
                allowances += amount
        category, rate = self.category(
            node, "cac:Item/cac:ClassifiedTaxCategory", f"{where}/cac:Item/cac:ClassifiedTaxCategory"
        )
        computed = quantize(quantity * price / base + charges - allowances, currency)
        if computed != stated:
            self.warnings.append(
                f"regel {line_id}: {quantity.normalize()} × {price} / {base.normalize()}"
                f" = {computed} maar de regel noemt {stated} (BT-131; het genoemde bedrag is aangehouden)"
            )
        return _Line(
            description=self.text("cac:Item/cbc:Name", node)
            or self.text("cac:Item/cbc:Description", node)
            or f"Regel {line_id}",
            quantity=quantity,
            unit=unit,
            price=price,
            base=base,
            allowances=allowances,
            charges=charges,
            net=stated,
            category=category,
            rate=rate,
        )

    def allowance_charge(self, node: ET.Element, index: int) -> _AllowanceCharge:
        where = self._path(f"cac:AllowanceCharge[{index}]")
        charge = self.text("cbc:ChargeIndicator", node).lower() == "true"
        amount = self.amount(
            "cbc:Amount", "Toeslag (BT-99)" if charge else "Korting (BT-92)", node, f"{where}/cbc:Amount"
        )
        category, rate = self.category(node, "cac:TaxCategory", f"{where}/cac:TaxCategory")
        reason = self.text("cbc:AllowanceChargeReason", node) or self.text(
            "cbc:AllowanceChargeReasonCode", node
        )
        return _AllowanceCharge(charge=charge, amount=amount, category=category, rate=rate, reason=reason)

    def vat_breakdown(self, currency: str) -> list[_Subtotal]:
        subtotals: list[_Subtotal] = []
        for total in self.root.findall("cac:TaxTotal", NS):
            for i, node in enumerate(total.findall("cac:TaxSubtotal", NS), 1):
                where = self._path(f"cac:TaxTotal/cac:TaxSubtotal[{i}]")
                category, rate = self.category(node, "cac:TaxCategory", f"{where}/cac:TaxCategory")
                subtotals.append(
                    _Subtotal(
                        category=category,
                        rate=rate,
                        taxable=self.amount(
                            "cbc:TaxableAmount", "Grondslag (BT-116)", node, f"{where}/cbc:TaxableAmount"
                        ),
                        vat=self.amount(
                            "cbc:TaxAmount", "Btw-bedrag (BT-117)", node, f"{where}/cbc:TaxAmount"
                        ),
                        exemption_reason=self.text("cac:TaxCategory/cbc:TaxExemptionReason", node),
                    )
                )
        if not subtotals:
            raise UblProblem(
                "de btw-specificatie (BG-23) ontbreekt", element=self._path("cac:TaxTotal/cac:TaxSubtotal")
            )
        return subtotals

    def totals(self) -> _Totals:
        m = "cac:LegalMonetaryTotal/"
        document_vat: Decimal | None = None
        tax_currency_vat: Decimal | None = None
        currency = self.text("cbc:DocumentCurrencyCode").upper()
        for total in self.root.findall("cac:TaxTotal", NS):
            node = total.find("cbc:TaxAmount", NS)
            if node is None:
                continue
            value = self._decimal(
                (node.text or "").strip(), "Btw-totaal (BT-110)", self._path("cac:TaxTotal/cbc:TaxAmount")
            )
            if (node.get("currencyID") or currency).upper() == currency and document_vat is None:
                document_vat = value
            else:
                tax_currency_vat = value  # BT-111, the VAT in the tax currency
        if document_vat is None:
            raise UblProblem(
                "Btw-totaal (BT-110) ontbreekt", element=self._path("cac:TaxTotal/cbc:TaxAmount")
            )
        return _Totals(
            line_extension=self.amount(m + "cbc:LineExtensionAmount", "Som regelbedragen (BT-106)"),
            allowances=self.optional_amount(m + "cbc:AllowanceTotalAmount", "Som kortingen (BT-107)"),
            charges=self.optional_amount(m + "cbc:ChargeTotalAmount", "Som toeslagen (BT-108)"),
            tax_exclusive=self.amount(m + "cbc:TaxExclusiveAmount", "Totaal excl. btw (BT-109)"),
            vat=document_vat,
            gross=self.amount(m + "cbc:TaxInclusiveAmount", "Totaal incl. btw (BT-112)"),
            prepaid=self.optional_amount(m + "cbc:PrepaidAmount", "Vooruitbetaald (BT-113)"),
            rounding=self.optional_amount(m + "cbc:PayableRoundingAmount", "Afronding (BT-114)"),
            payable=self.amount(m + "cbc:PayableAmount", "Te betalen (BT-115)"),
            tax_currency_vat=tax_currency_vat,
        )

    def check_totals(
        self,
        lines: list[_Line],
        document_ac: list[_AllowanceCharge],
        subtotals: list[_Subtotal],
        t: _Totals,
        currency: str,
    ) -> None:
        """EN 16931's header rules, each to the cent: the first that fails is the foutmelding."""

        def q(amount: Decimal) -> Decimal:
            return quantize(amount, currency)

        allowances = sum((ac.amount for ac in document_ac if not ac.charge), ZERO)
        charges = sum((ac.amount for ac in document_ac if ac.charge), ZERO)
        m = "cac:LegalMonetaryTotal/cbc:"
        rules = [
            (
                "BT-106",
                "LineExtensionAmount",
                "de som van de regelbedragen (BT-131)",
                sum((ln.net for ln in lines), ZERO),
                t.line_extension,
            ),
            ("BT-107", "AllowanceTotalAmount", "de som van de kortingen (BT-92)", allowances, t.allowances),
            ("BT-108", "ChargeTotalAmount", "de som van de toeslagen (BT-99)", charges, t.charges),
            (
                "BT-109",
                "TaxExclusiveAmount",
                "BT-106 − BT-107 + BT-108",
                t.line_extension - t.allowances + t.charges,
                t.tax_exclusive,
            ),
            (
                "BT-110",
                "",
                "de som van de btw-bedragen per categorie (BT-117)",
                sum((s.vat for s in subtotals), ZERO),
                t.vat,
            ),
            ("BT-112", "TaxInclusiveAmount", "BT-109 + BT-110", t.tax_exclusive + t.vat, t.gross),
            (
                "BT-115",
                "PayableAmount",
                "BT-112 − BT-113 + BT-114",
                t.gross - t.prepaid + t.rounding,
                t.payable,
            ),
        ]
        for subtotal in subtotals:
            key = (subtotal.category, subtotal.rate)
            base = (
                sum((ln.net for ln in lines if (ln.category, ln.rate) == key), ZERO)
                + sum((ac.amount for ac in document_ac if ac.charge and (ac.category, ac.rate) == key), ZERO)
                - sum(
                    (ac.amount for ac in document_ac if not ac.charge and (ac.category, ac.rate) == key), ZERO
                )
            )
            label = f"{subtotal.category.value} {subtotal.rate.normalize()}%"
            rules.append(
                (
                    "BT-116",
                    "",
                    f"de regels, kortingen en toeslagen in btw-categorie {label}",
                    base,
                    subtotal.taxable,
                )
            )
        used = {(ln.category, ln.rate) for ln in lines} | {(ac.category, ac.rate) for ac in document_ac}
        missing = used - {(s.category, s.rate) for s in subtotals}
        for stated_total_bt, element, what, parts, stated in rules:
            if q(parts) != q(stated):
                where = self._path(m + element) if element else self._path("cac:TaxTotal")
                raise UblProblem(
                    f"{stated_total_bt} klopt niet: {what} is {q(parts)} {currency}, de factuur noemt"
                    f" {q(stated)} (verschil {q(stated - parts)})",
                    element=where,
                    advice="Vraag de leverancier om een gecorrigeerde e-factuur (of een creditnota en een"
                    " nieuwe factuur); een factuur waarvan de totalen niet kloppen wordt niet geboekt.",
                )
        if missing:
            category, rate = sorted(missing)[0]
            raise UblProblem(
                f"btw-categorie {category.value} {rate.normalize()}% staat op een regel maar niet in de"
                " btw-specificatie (BG-23)",
                element=self._path("cac:TaxTotal/cac:TaxSubtotal"),
            )

    def attachments(self) -> Iterable[Attachment]:
        for i, node in enumerate(self.root.findall("cac:AdditionalDocumentReference", NS), 1):
            blob = node.find("cac:Attachment/cbc:EmbeddedDocumentBinaryObject", NS)
            if blob is None:
                continue
            where = self._path(
                f"cac:AdditionalDocumentReference[{i}]/cac:Attachment/cbc:EmbeddedDocumentBinaryObject"
            )
            try:
                content = base64.b64decode("".join((blob.text or "").split()), validate=True)
            except (binascii.Error, ValueError):
                self.warnings.append(
                    f"bijlage {blob.get('filename') or i} is geen geldige base64 ({where}); niet meegenomen"
                )
                continue
            yield Attachment(
                filename=blob.get("filename") or f"bijlage-{i}",
                mime_code=blob.get("mimeCode") or "application/octet-stream",
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
                description=self.text("cbc:DocumentDescription", node) or self.text("cbc:ID", node),
                content=content,
            )


def embedded_attachment(data: bytes, sha256: str) -> bytes | None:
    """The bytes of the embedded document with this hash (read again from the file when a target wants them)."""
    root = xmlsafe.parse(data, limit=SIZE_LIMIT)
    for blob in root.iterfind(
        ".//cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject", NS
    ):
        try:
            content = base64.b64decode("".join((blob.text or "").split()), validate=True)
        except (binascii.Error, ValueError):
            continue
        if hashlib.sha256(content).hexdigest() == sha256:
            return content
    return None


def _non_eu_vat(number: str) -> str:
    """A valid VAT number from outside the EU (GB, NO, CH…) in compact form, else ""."""
    try:
        return str(vatin.validate(number))
    except (StdnumError, ImportError):
        return ""


_SCHEME_NAMES = {"0106": "KvK-nummer", "0190": "OIN", "0208": "KBO-nummer", "0088": "GLN"}


def _valid_identifier(scheme: str, value: str) -> bool:
    """Registrations we know the form of are checked; other schemes are taken as given."""
    if scheme == "0106":
        return re.fullmatch(r"\d{8}", value) is not None
    if scheme == "0190":
        return re.fullmatch(r"\d{20}", value) is not None
    if scheme == "0208":
        try:
            be_vat.validate("BE" + value)
        except StdnumError:
            return False
        return True
    if scheme == "0088":
        return ean.is_valid(value) and len(value) == 13
    return bool(value)


@dataclass(frozen=True)
class _Line:
    description: str
    quantity: Decimal
    unit: str
    price: Decimal
    base: Decimal
    allowances: Decimal
    charges: Decimal
    net: Decimal
    category: VatCategory
    rate: Decimal

    def canonical(self, sign: Decimal) -> InvoiceLine:
        return InvoiceLine(
            description=self.description[:200],
            quantity=sign * self.quantity,
            unit_price=self.price,
            net_amount=sign * self.net,
            vat_rate=self.rate,
            vat_category=self.category,
            unit_code=self.unit,
            base_quantity=self.base,
            allowances=sign * self.allowances,
            charges=sign * self.charges,
        )


@dataclass(frozen=True)
class _AllowanceCharge:
    charge: bool
    amount: Decimal
    category: VatCategory
    rate: Decimal
    reason: str

    def canonical(self, sign: Decimal) -> InvoiceLine:
        """A document allowance or charge is a line of its own: it carries VAT and a tegenrekening."""
        net = sign * (self.amount if self.charge else -self.amount)
        word = "Toeslag" if self.charge else "Korting"
        return InvoiceLine(
            description=f"{word}: {self.reason}" if self.reason else word,
            quantity=Decimal(1),
            unit_price=net,
            net_amount=net,
            vat_rate=self.rate,
            vat_category=self.category,
        )


@dataclass(frozen=True)
class _Subtotal:
    category: VatCategory
    rate: Decimal
    taxable: Decimal
    vat: Decimal
    exemption_reason: str


@dataclass(frozen=True)
class _Totals:
    line_extension: Decimal
    allowances: Decimal
    charges: Decimal
    tax_exclusive: Decimal
    vat: Decimal
    gross: Decimal
    prepaid: Decimal
    rounding: Decimal
    payable: Decimal
    tax_currency_vat: Decimal | None
