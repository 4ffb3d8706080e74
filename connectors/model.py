"""The canonical model every connector speaks. Money is Decimal; totals must add up to the cent."""

from __future__ import annotations

import datetime as _dt
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_validator

from connectors.money import ZERO, quantize


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InvoiceKind(StrEnum):
    SALES = "sales"
    PURCHASE = "purchase"


class VatCategory(StrEnum):
    """UNCL 5305 categories, as used by Peppol BIS and the Dutch/Belgian returns."""

    STANDARD = "S"
    ZERO = "Z"
    EXEMPT = "E"
    REVERSE_CHARGE = "AE"
    INTRA_EU = "K"
    EXPORT = "G"
    OUTSIDE_SCOPE = "O"
    CANARY_ISLANDS = "L"  # IGIC
    CEUTA_MELILLA = "M"  # IPSI


class Party(Model):
    """A debtor or creditor as the source knows it."""

    source_id: str
    name: str
    vat_number: str = ""
    coc_number: str = ""
    address: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = "NL"
    email: str = ""
    iban: str = ""
    # Registrations an e-invoice names the party by, as (ICD scheme, id): ("0106", "12345678") is a KvK
    # number, 0190 an OIN, 0208 a KBO/BCE number, 0088 a GLN.
    identifiers: tuple[tuple[str, str], ...] = ()


class InvoiceLine(Model):
    description: str
    quantity: Decimal = Decimal(1)
    unit_price: Decimal = ZERO
    net_amount: Decimal
    vat_rate: Decimal
    vat_category: VatCategory = VatCategory.STANDARD
    product_group: str = ""
    unit_code: str = ""  # UN/ECE rec 20 (C62 = piece, HUR = hour)
    base_quantity: Decimal = Decimal(1)  # unit_price is per this many units
    allowances: Decimal = ZERO  # line allowances (positive), already in net_amount
    charges: Decimal = ZERO  # line charges, already in net_amount


class VatSubtotal(Model):
    rate: Decimal
    category: VatCategory = VatCategory.STANDARD
    taxable_amount: Decimal
    vat_amount: Decimal
    exemption_reason: str = ""


class Attachment(Model):
    """A document embedded in an e-invoice (usually its PDF).

    `content` is the file itself (base64 in JSON), never in a repr or a log line. It travels on the
    invoice (the outbox's payload, so a retry still has it); a booking carries the attachment without
    it (see JournalEntry), so the PDF is in the outbox once."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")

    filename: str
    mime_code: str
    size: int
    sha256: str
    description: str = ""
    content: bytes | None = Field(default=None, repr=False)

    def without_content(self) -> Attachment:
        return self.model_copy(update={"content": None})


class InvoiceTotalsError(ValueError):
    """An invoice whose parts do not add up to its totals."""


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


class Invoice(Model):
    source: str
    source_id: str
    number: str
    kind: InvoiceKind
    credit_note: bool = False
    issue_date: date
    due_date: date | None = None
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    party: Party
    lines: tuple[InvoiceLine, ...]
    vat: tuple[VatSubtotal, ...]
    total_net: Decimal
    total_vat: Decimal
    total_gross: Decimal
    payment_reference: str = ""
    description: str = ""
    # What an e-invoice says beyond the bookkeeping essentials (defaults keep other sources unchanged).
    customer: Party | None = None
    buyer_reference: str = ""
    order_reference: str = ""
    prepaid: Decimal = ZERO  # paid before: total_gross - prepaid + rounding is what is still due
    rounding: Decimal = ZERO
    tax_currency: str = ""  # the currency VAT is also stated in, when it differs from `currency`
    tax_currency_vat: Decimal | None = None
    attachments: tuple[Attachment, ...] = ()
    # Things that are not wrong enough to refuse the invoice but that a bookkeeper should see.
    warnings: tuple[str, ...] = ()

    @property
    def payable(self) -> Decimal:
        return self.total_gross - self.prepaid + self.rounding

    @model_validator(mode="after")
    def _totals_add_up(self) -> Self:
        problems = self.totals_problems()
        if problems:
            raise InvoiceTotalsError(f"Factuur {self.number}: " + "; ".join(problems))
        return self

    def totals_problems(self) -> list[str]:
        """Each way the invoice fails to add up, naming the difference."""

        def q(amount: Decimal) -> Decimal:
            return quantize(amount, self.currency)

        problems: list[str] = []

        def differ(what: str, parts: Decimal, total: Decimal) -> None:
            if q(parts) != q(total):
                problems.append(
                    f"{what} tellen op tot {_money(q(parts))} {self.currency} maar het totaal is "
                    f"{_money(q(total))} (verschil {_money(q(total) - q(parts))})"
                )

        if self.lines:
            differ("de regels (excl. btw)", sum((ln.net_amount for ln in self.lines), ZERO), self.total_net)
        differ("de btw-bedragen", sum((v.vat_amount for v in self.vat), ZERO), self.total_vat)
        differ("excl. btw plus btw", self.total_net + self.total_vat, self.total_gross)
        if self.lines:
            for subtotal in self.vat:
                base = sum(
                    (
                        ln.net_amount
                        for ln in self.lines
                        if ln.vat_rate == subtotal.rate and ln.vat_category == subtotal.category
                    ),
                    ZERO,
                )
                differ(f"de regels met {subtotal.rate.normalize()}% btw", base, subtotal.taxable_amount)
        return problems


class LedgerAccount(Model):
    """A grootboekrekening in the target. `id` is the target's own key when it differs from the code."""

    code: str
    name: str
    category: str = ""
    id: str = ""
    # Can carry the revenue or costs of an invoice line. The connector decides, by its vendor's rules:
    # debtors, creditors and bank accounts (or every balance account, where the vendor wants P&L) cannot.
    tegenrekening: bool = True


class VatCode(Model):
    code: str
    description: str
    rate: Decimal | None = None
    kind: InvoiceKind | None = None
    category: VatCategory | None = None


class Administratie(Model):
    id: str
    name: str


class CostCenter(Model):
    """A kostenplaats in the target. `code` is what a booking line carries (e-Boekhouden: its id)."""

    code: str
    name: str


class Journal(Model):
    """A dagboek in the target that takes invoices of `kind`."""

    code: str
    name: str
    kind: InvoiceKind


class BookingLine(Model):
    account_code: str
    vat_code: str
    vat_rate: Decimal
    net_amount: Decimal
    vat_amount: Decimal
    description: str = ""
    cost_center: str = ""


class ForeignAmount(Model):
    """The invoice as issued, kept on a booking converted to EUR."""

    currency: str
    gross: Decimal
    rate: Decimal  # units of `currency` per 1 EUR, as the ECB publishes it
    rate_date: date


class JournalEntry(Model):
    """One booking for a target, in EUR, balanced to the cent."""

    reference: str
    kind: InvoiceKind
    credit_note: bool = False
    date: _dt.date  # the module path: a field named `date` shadows the type for mypy
    due_date: _dt.date | None = None
    invoice_number: str
    description: str
    relation: Party
    lines: tuple[BookingLine, ...]
    payment_reference: str = ""
    foreign: ForeignAmount | None = None
    journal: str = ""  # the koppeling's dagboek for this kind; empty: the connection's default
    # Files that go along with the booking (the invoice's PDF), for targets that carry them. Stored
    # (JSON) without their content: the engine takes that from the invoice when it attaches.
    attachments: tuple[Attachment, ...] = ()

    @field_serializer("attachments")
    def _attachments_without_content(self, attachments: tuple[Attachment, ...]) -> list[dict[str, object]]:
        return [a.model_dump(mode="json", exclude={"content"}) for a in attachments]

    @model_validator(mode="after")
    def _balances(self) -> Self:
        if not self.lines:
            raise InvoiceTotalsError(f"Boeking {self.invoice_number}: geen regels")
        for line in self.lines:
            if quantize(line.net_amount) != line.net_amount or quantize(line.vat_amount) != line.vat_amount:
                raise InvoiceTotalsError(f"Boeking {self.invoice_number}: bedragen niet in centen")
        return self

    @property
    def total_net(self) -> Decimal:
        return sum((ln.net_amount for ln in self.lines), ZERO)

    @property
    def total_vat(self) -> Decimal:
        return sum((ln.vat_amount for ln in self.lines), ZERO)

    @property
    def total_gross(self) -> Decimal:
        return self.total_net + self.total_vat
