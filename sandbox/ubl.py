"""UBL 2.1 documents as the Dutch (SI-UBL 2.0 / NLCIUS) and Belgian (UBL.BE) specifications describe them.

Written from the public specifications (the element order of the UBL 2.1 schema, the CustomizationIDs
of NLCIUS and UBL.BE, EN 16931's totals); the totals are computed here the way EN 16931 defines them,
so a test (or the demo, or the benchmark) that wants a document that does not balance says which total
to spoil. Used by the tests, `koppelaar demo` and `bench/ubl.py`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from xml.sax.saxutils import escape

SI_UBL = "urn:cen.eu:en16931:2017#compliant#urn:fdc:nen.nl:nlcius:v1.0"
UBL_BE = "urn:cen.eu:en16931:2017#conformant#urn:UBL.BE:1.0.0.20180214"
PEPPOL = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
CENT = Decimal("0.01")


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Org:
    name: str
    country: str
    vat: str = ""
    registration: tuple[str, str] | None = None  # (ICD scheme, id): ("0106", KvK), ("0208", KBO)
    endpoint: tuple[str, str] | None = None
    city: str = "Utrecht"


@dataclass(frozen=True)
class Line:
    name: str
    quantity: Decimal
    price: Decimal
    category: str = "S"
    rate: Decimal | None = Decimal(21)
    unit: str = "C62"
    base: Decimal = Decimal(1)
    allowance: Decimal = Decimal(0)
    stated: Decimal | None = None  # a line amount other than quantity × price (a supplier's slip)

    @property
    def net(self) -> Decimal:
        if self.stated is not None:
            return self.stated
        return cents(self.quantity * self.price / self.base - self.allowance)


@dataclass(frozen=True)
class Doc:
    number: str
    supplier: Org
    customer: Org
    lines: tuple[Line, ...]
    customization: str = SI_UBL
    root: str = "Invoice"
    issue_date: str = "2026-03-02"
    due_date: str = "2026-04-01"
    currency: str = "EUR"
    tax_currency: str = ""
    tax_currency_rate: Decimal = Decimal(1)  # units of tax currency per document currency unit
    iban: str = "NL91ABNA0417164300"
    allowance: tuple[str, Decimal, str, Decimal] | None = None  # reason, amount, category, rate
    prepaid: Decimal = Decimal(0)
    exemption_reason: str = ""
    attachment: bytes | None = None
    spoil: dict[str, Decimal] = field(default_factory=dict)  # e.g. {"TaxInclusiveAmount": Decimal("0.01")}
    order_reference: str = ""
    buyer_reference: str = ""


def _party(org: Org) -> str:
    endpoint = org.endpoint or ((("9944" if org.country == "NL" else "9925"), org.vat) if org.vat else None)
    parts = []
    if endpoint:
        parts.append(f'<cbc:EndpointID schemeID="{endpoint[0]}">{endpoint[1]}</cbc:EndpointID>')
    if org.registration:
        parts.append(
            f'<cac:PartyIdentification><cbc:ID schemeID="{org.registration[0]}">{org.registration[1]}</cbc:ID>'
            "</cac:PartyIdentification>"
        )
    parts.append(
        f"<cac:PostalAddress><cbc:StreetName>Hoofdstraat 1</cbc:StreetName><cbc:CityName>{org.city}</cbc:CityName>"
        f"<cbc:PostalZone>1000</cbc:PostalZone><cac:Country><cbc:IdentificationCode>{org.country}"
        "</cbc:IdentificationCode></cac:Country></cac:PostalAddress>"
    )
    if org.vat:
        parts.append(
            f"<cac:PartyTaxScheme><cbc:CompanyID>{org.vat}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID>"
            "</cac:TaxScheme></cac:PartyTaxScheme>"
        )
    legal = f"<cbc:RegistrationName>{escape(org.name)}</cbc:RegistrationName>"
    if org.registration:
        legal += f'<cbc:CompanyID schemeID="{org.registration[0]}">{org.registration[1]}</cbc:CompanyID>'
    parts.append(f"<cac:PartyLegalEntity>{legal}</cac:PartyLegalEntity>")
    return "<cac:Party>" + "".join(parts) + "</cac:Party>"


def _category(tag: str, category: str, rate: Decimal | None, reason: str = "") -> str:
    percent = f"<cbc:Percent>{rate}</cbc:Percent>" if rate is not None else ""
    why = f"<cbc:TaxExemptionReason>{escape(reason)}</cbc:TaxExemptionReason>" if reason else ""
    return (
        f"<cac:{tag}><cbc:ID>{category}</cbc:ID>{percent}{why}<cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>"
        f"</cac:{tag}>"
    )


def build(doc: Doc) -> bytes:
    """The document as bytes; totals computed per EN 16931 unless `spoil` adds a difference."""
    ccy = doc.currency
    credit = doc.root == "CreditNote"
    line_tag = "CreditNoteLine" if credit else "InvoiceLine"
    qty_tag = "CreditedQuantity" if credit else "InvoicedQuantity"
    groups: dict[tuple[str, Decimal | None], Decimal] = {}
    lines_xml = []
    for i, ln in enumerate(doc.lines, 1):
        groups[(ln.category, ln.rate)] = groups.get((ln.category, ln.rate), Decimal(0)) + ln.net
        allowance = (
            f"<cac:AllowanceCharge><cbc:ChargeIndicator>false</cbc:ChargeIndicator>"
            f"<cbc:AllowanceChargeReason>Korting</cbc:AllowanceChargeReason>"
            f'<cbc:Amount currencyID="{ccy}">{ln.allowance}</cbc:Amount></cac:AllowanceCharge>'
            if ln.allowance
            else ""
        )
        base = f'<cbc:BaseQuantity unitCode="{ln.unit}">{ln.base}</cbc:BaseQuantity>' if ln.base != 1 else ""
        lines_xml.append(
            f"<cac:{line_tag}><cbc:ID>{i}</cbc:ID>"
            f'<cbc:{qty_tag} unitCode="{ln.unit}">{ln.quantity}</cbc:{qty_tag}>'
            f'<cbc:LineExtensionAmount currencyID="{ccy}">{ln.net}</cbc:LineExtensionAmount>{allowance}'
            f"<cac:Item><cbc:Name>{escape(ln.name)}</cbc:Name>"
            + _category("ClassifiedTaxCategory", ln.category, ln.rate)
            + f'</cac:Item><cac:Price><cbc:PriceAmount currencyID="{ccy}">{ln.price}</cbc:PriceAmount>{base}'
            f"</cac:Price></cac:{line_tag}>"
        )
    line_total = sum((ln.net for ln in doc.lines), Decimal(0))
    allowance_total = Decimal(0)
    allowance_xml = ""
    if doc.allowance:
        reason, amount, category, rate = doc.allowance
        allowance_total = amount
        groups[(category, rate)] = groups.get((category, rate), Decimal(0)) - amount
        allowance_xml = (
            f"<cac:AllowanceCharge><cbc:ChargeIndicator>false</cbc:ChargeIndicator>"
            f"<cbc:AllowanceChargeReason>{escape(reason)}</cbc:AllowanceChargeReason>"
            f'<cbc:Amount currencyID="{ccy}">{amount}</cbc:Amount>'
            + _category("TaxCategory", category, rate)
            + "</cac:AllowanceCharge>"
        )
    subtotals = []
    vat_total = Decimal(0)
    for (group_category, group_rate), taxable in groups.items():
        vat = cents(taxable * (group_rate or 0) / 100)
        vat_total += vat
        subtotals.append(
            f'<cac:TaxSubtotal><cbc:TaxableAmount currencyID="{ccy}">{taxable}</cbc:TaxableAmount>'
            f'<cbc:TaxAmount currencyID="{ccy}">{vat}</cbc:TaxAmount>'
            + _category(
                "TaxCategory",
                group_category,
                group_rate,
                doc.exemption_reason if group_category != "S" else "",
            )
            + "</cac:TaxSubtotal>"
        )
    tax_exclusive = line_total - allowance_total
    spoil = doc.spoil
    tax_inclusive = tax_exclusive + vat_total + spoil.get("TaxInclusiveAmount", Decimal(0))
    payable = tax_inclusive - doc.prepaid
    tax_totals = f'<cac:TaxTotal><cbc:TaxAmount currencyID="{ccy}">{vat_total}</cbc:TaxAmount>{"".join(subtotals)}</cac:TaxTotal>'
    if doc.tax_currency and doc.tax_currency != ccy:
        tax_totals += (
            f'<cac:TaxTotal><cbc:TaxAmount currencyID="{doc.tax_currency}">'
            f"{cents(vat_total * doc.tax_currency_rate)}</cbc:TaxAmount></cac:TaxTotal>"
        )
    attachment = ""
    if doc.attachment is not None:
        attachment = (
            f"<cac:AdditionalDocumentReference><cbc:ID>{doc.number}</cbc:ID><cac:Attachment>"
            f'<cbc:EmbeddedDocumentBinaryObject mimeCode="application/pdf" filename="{doc.number}.pdf">'
            f"{base64.b64encode(doc.attachment).decode()}</cbc:EmbeddedDocumentBinaryObject></cac:Attachment>"
            "</cac:AdditionalDocumentReference>"
        )
    type_code = (
        "<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>"
        if credit
        else "<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>"
    )
    due = f"<cbc:DueDate>{doc.due_date}</cbc:DueDate>" if not credit else ""
    payment_due = f"<cbc:PaymentDueDate>{doc.due_date}</cbc:PaymentDueDate>" if credit else ""
    tax_currency = (
        f"<cbc:TaxCurrencyCode>{doc.tax_currency}</cbc:TaxCurrencyCode>" if doc.tax_currency else ""
    )
    buyer_reference = (
        f"<cbc:BuyerReference>{doc.buyer_reference}</cbc:BuyerReference>" if doc.buyer_reference else ""
    )
    order = (
        f"<cac:OrderReference><cbc:ID>{doc.order_reference}</cbc:ID></cac:OrderReference>"
        if doc.order_reference
        else ""
    )
    prepaid = (
        f'<cbc:PrepaidAmount currencyID="{ccy}">{doc.prepaid}</cbc:PrepaidAmount>' if doc.prepaid else ""
    )
    allowance_total_xml = (
        f'<cbc:AllowanceTotalAmount currencyID="{ccy}">{allowance_total}</cbc:AllowanceTotalAmount>'
        if doc.allowance
        else ""
    )
    namespace = f"urn:oasis:names:specification:ubl:schema:xsd:{doc.root}-2"
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<{doc.root} xmlns="{namespace}"'
        ' xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"'
        ' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        f"<cbc:UBLVersionID>2.1</cbc:UBLVersionID><cbc:CustomizationID>{doc.customization}</cbc:CustomizationID>"
        f"<cbc:ID>{doc.number}</cbc:ID><cbc:IssueDate>{doc.issue_date}</cbc:IssueDate>{due}{type_code}"
        f"<cbc:DocumentCurrencyCode>{ccy}</cbc:DocumentCurrencyCode>{tax_currency}{buyer_reference}{order}"
        f"{attachment}"
        f"<cac:AccountingSupplierParty>{_party(doc.supplier)}</cac:AccountingSupplierParty>"
        f"<cac:AccountingCustomerParty>{_party(doc.customer)}</cac:AccountingCustomerParty>"
        f"<cac:PaymentMeans><cbc:PaymentMeansCode>58</cbc:PaymentMeansCode>{payment_due}"
        f"<cbc:PaymentID>{doc.number}</cbc:PaymentID>"
        f"<cac:PayeeFinancialAccount><cbc:ID>{doc.iban}</cbc:ID></cac:PayeeFinancialAccount></cac:PaymentMeans>"
        f"{allowance_xml}{tax_totals}"
        f'<cac:LegalMonetaryTotal><cbc:LineExtensionAmount currencyID="{ccy}">{line_total}</cbc:LineExtensionAmount>'
        f'<cbc:TaxExclusiveAmount currencyID="{ccy}">{tax_exclusive}</cbc:TaxExclusiveAmount>'
        f'<cbc:TaxInclusiveAmount currencyID="{ccy}">{tax_inclusive}</cbc:TaxInclusiveAmount>'
        f"{allowance_total_xml}{prepaid}"
        f'<cbc:PayableAmount currencyID="{ccy}">{payable}</cbc:PayableAmount></cac:LegalMonetaryTotal>'
        + "".join(lines_xml)
        + f"</{doc.root}>"
    )
    return xml.encode()


# Parties with real check digits (python-stdnum validates them), invented names.
NL_SUPPLIER = Org("Drukkerij De Vries B.V.", "NL", vat="NL004495445B01", registration=("0106", "12345678"))
NL_BUYER = Org("Bakkerij Jansen", "NL", vat="NL000099998B57", registration=("0106", "87654321"))
BE_SUPPLIER = Org(
    "Studio Peeters BV", "BE", vat="BE0403170701", registration=("0208", "0403170701"), city="Gent"
)
BE_BUYER = Org(
    "Brasserie Dubois", "BE", vat="BE0202239951", registration=("0208", "0202239951"), city="Namen"
)
US_SUPPLIER = Org("Cloudworks Inc.", "US", endpoint=("0088", "0614141000036"), city="Seattle")


def nl_21_9(number: str = "DV-2026-0117", **changes: object) -> Doc:
    """SI-UBL 2.0: a Dutch printer's invoice with 21 % and 9 % (books) and a document discount."""
    base = Doc(
        number=number,
        supplier=NL_SUPPLIER,
        customer=NL_BUYER,
        lines=(
            Line("Drukwerk folders A5", Decimal(2500), Decimal("18.50"), base=Decimal(100), unit="H87"),
            Line("Vormgeving", Decimal("3.5"), Decimal("65.00"), unit="HUR", allowance=Decimal("12.50")),
            Line("Naslagwerk (boek)", Decimal(4), Decimal("24.95"), rate=Decimal(9)),
        ),
        allowance=("Vaste klant", Decimal("10.00"), "S", Decimal(21)),
        order_reference="PO-4471",
        buyer_reference="Inkoop",
    )
    return _with(base, changes)


def be_6_12_21(number: str = "F2026/0042", **changes: object) -> Doc:
    """UBL.BE: a Belgian invoice with the three Belgian rates, between two Belgian companies."""
    base = Doc(
        number=number,
        customization=UBL_BE,
        supplier=BE_SUPPLIER,
        customer=BE_BUYER,
        iban="BE71096123456769",
        lines=(
            Line("Renovatiewerken woning", Decimal(1), Decimal("4200.00"), rate=Decimal(6)),
            Line("Vloerisolatie", Decimal(38), Decimal("22.40"), unit="MTK", rate=Decimal(12)),
            Line("Ontwerp en begeleiding", Decimal(10), Decimal("95.00"), unit="HUR", rate=Decimal(21)),
        ),
    )
    return _with(base, changes)


def be_nl_reverse_charge(number: str = "F2026/0043", **changes: object) -> Doc:
    """UBL.BE: a Belgian consultant's service to a Dutch company, VAT reverse charged (AE, 0 %)."""
    base = Doc(
        number=number,
        customization=UBL_BE,
        supplier=BE_SUPPLIER,
        customer=NL_BUYER,
        iban="BE71096123456769",
        lines=(
            Line(
                "Advies huisstijl maart",
                Decimal(12),
                Decimal("110.00"),
                unit="HUR",
                category="AE",
                rate=Decimal(0),
            ),
        ),
        exemption_reason="Btw verlegd, art. 196 Richtlijn 2006/112/EG",
    )
    return _with(base, changes)


def usd_invoice(number: str = "INV-88120", **changes: object) -> Doc:
    """Peppol BIS 3 in US dollars from outside the EU, VAT stated also in EUR (tax currency)."""
    base = Doc(
        number=number,
        customization=PEPPOL,
        supplier=US_SUPPLIER,
        customer=NL_BUYER,
        currency="USD",
        tax_currency="EUR",
        tax_currency_rate=Decimal("0.92"),
        iban="NL91ABNA0417164300",
        lines=(Line("Cloud hosting maart", Decimal(1), Decimal("1250.00"), category="AE", rate=Decimal(0)),),
    )
    return _with(base, changes)


def _with(doc: Doc, changes: dict[str, object]) -> Doc:
    from dataclasses import replace

    return replace(doc, **changes)  # type: ignore[arg-type]
