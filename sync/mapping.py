"""From a source invoice to a target booking: tegenrekening, btw-code, kostenplaats, dagboek and EUR
amounts. `Mapper` is the flow strategy for invoices → bookings (`BookingFlow`).

Every amount on the booking equals the invoice to the cent: VAT per rate is taken from the invoice's
own breakdown and split over booking lines by largest remainder; foreign invoices are converted at the
ECB rate of the invoice date, totals first, then split the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from connectors.contract import BookingTarget, Payload, SourceProblem, Stream
from connectors.model import (
    Attachment,
    BookingLine,
    ForeignAmount,
    Invoice,
    InvoiceKind,
    JournalEntry,
    Party,
    VatCategory,
)
from connectors.money import ZERO, quantize
from connectors.registry import SPECS
from state.settings import CurrencyPolicy, Koppeling
from sync.fx import EcbRates, RateUnavailable

CENT = Decimal("0.01")
KIND_WORD = {InvoiceKind.SALES: "verkoop", InvoiceKind.PURCHASE: "inkoop"}


class MappingProblem(Exception):
    """A value on the invoice has no mapping (or no sensible conversion). `key` is the mapping key."""

    def __init__(self, title: str, *, key: str, advice: str) -> None:
        super().__init__(title)
        self.title = title
        self.key = key
        self.advice = advice


class BookingFlow(Protocol):
    """The mapping strategy of one flow: how a source stream's records become bookings in a target.

    The engine knows outbox rows and journal entries; what a record is, says this."""

    stream: Stream

    def parse(self, payload: str) -> Payload:
        """A payload as the outbox stored it (JSON), for mapping it again after a fix."""
        ...

    def label(self, payload: Payload) -> str:
        """What a person calls the record (an invoice number): the outbox's display label."""
        ...

    def describe(self, payload: Payload) -> str:
        """The record in a foutmelding's detail, e.g. 'factuur F2026-00013'."""
        ...

    def skip_reason(self, payload: Payload) -> str | None:
        """Why there is nothing to book (a zero invoice, before the start date), else None."""
        ...

    def unreadable(self, problem: SourceProblem) -> tuple[str, str]:
        """Title and advice of the foutmelding for a record the source could not read."""
        ...

    def to_entry(self, payload: Payload, reference: str) -> JournalEntry:
        """The booking; raises MappingProblem when a value has no mapping."""
        ...

    def party_code(self, source_system: str, entry: JournalEntry) -> str:
        """The code the entry's relation has (or gets) in the target."""
        ...

    def attachments(self, payload: Payload) -> tuple[Attachment, ...]:
        """The record's files with their content, to go along with its booking."""
        ...


def rate_key(rate: Decimal) -> str:
    return format(rate.normalize(), "f")


def allocate(total: Decimal, parts: Sequence[Decimal]) -> list[Decimal]:
    """Round each part to cents so that together they make `total` to the cent (largest remainder)."""
    rounded = [quantize(part) for part in parts]
    residual = total - sum(rounded, ZERO)
    if not parts or residual == 0:
        return rounded
    step = CENT if residual > 0 else -CENT
    # Give the cents to the parts that lost most in rounding, in the direction of the residual.
    order = sorted(range(len(parts)), key=lambda i: (parts[i] - rounded[i]) * step, reverse=True)
    whole, extra = divmod(int(abs(residual) / CENT), len(parts))
    for position, index in enumerate(order):
        rounded[index] += step * (whole + (1 if position < extra else 0))
    return rounded


def relation_code(source_system: str, source_id: str) -> str:
    """The relation's code in the target: the source's prefix (so two sources never collide) + its id."""
    spec = SPECS.get(source_system)
    prefix = spec.relation_prefix if spec is not None and spec.relation_prefix else source_system[:3].upper()
    return prefix + source_id


def supplier_keys(party: Party) -> list[str]:
    """How a supplier is named in `tegenrekening` keys: its VAT number, else its KvK number."""
    return [key for key in (party.vat_number, party.coc_number and f"kvk{party.coc_number}") if key]


@dataclass(frozen=True)
class _Group:
    account: str
    vat_code: str
    rate: Decimal
    cost_center: str


class Mapper:
    """Invoices → bookings: the one flow there is today."""

    stream = Stream.INVOICES

    def __init__(self, koppeling: Koppeling, target: BookingTarget, rates: EcbRates | None = None) -> None:
        self.koppeling = koppeling
        self.mapping = koppeling.mapping
        self.target = target
        self.rates = rates or EcbRates()

    def parse(self, payload: str) -> Invoice:
        return Invoice.model_validate_json(payload)

    def label(self, invoice: Invoice) -> str:
        return invoice.number

    def describe(self, invoice: Invoice) -> str:
        return f"factuur {invoice.number}"

    def skip_reason(self, invoice: Invoice) -> str | None:
        start = self.koppeling.start_date
        if start and invoice.issue_date.isoformat() < start:
            return "voor de startdatum"
        if not invoice.lines and invoice.total_gross == 0:
            return "factuur van nul"
        return None

    def unreadable(self, problem: SourceProblem) -> tuple[str, str]:
        # One foutmelding per kind of defect; each record says precisely what is wrong with it.
        return (
            f"Factuur uit de bron afgekeurd (veld '{problem.field or 'onbekend'}')",
            problem.advice
            or "Corrigeer de factuur in de bron; de volgende run leest hem opnieuw als hij gewijzigd is.",
        )

    def party_code(self, source_system: str, entry: JournalEntry) -> str:
        return relation_code(source_system, entry.relation.source_id)

    def attachments(self, invoice: Invoice) -> tuple[Attachment, ...]:
        return tuple(a for a in invoice.attachments if a.content is not None)

    def tegenrekening(
        self, kind: InvoiceKind, rate: Decimal, product_group: str, party: Party | None = None
    ) -> str:
        word = KIND_WORD[kind]
        # A supplier's own tegenrekening (its costs always go to one account) wins over rate and group.
        candidates = (
            [f"{word}:leverancier:{k}" for k in supplier_keys(party)] if party and word == "inkoop" else []
        )
        if product_group:
            candidates.append(f"{word}:groep:{product_group}")
        candidates.append(f"{word}:{rate_key(rate)}")
        for key in candidates:
            if self.mapping.tegenrekening.get(key):
                return self.mapping.tegenrekening[key]
        default = (
            self.mapping.tegenrekening_verkoop
            if kind is InvoiceKind.SALES
            else self.mapping.tegenrekening_inkoop
        )
        if default:
            return default
        facturen = "verkoopfacturen" if kind is InvoiceKind.SALES else "inkoopfacturen"
        raise MappingProblem(
            f"Geen tegenrekening gekozen voor {facturen}",
            key=f"tegenrekening_{word}",
            advice=f"Kies onder Mapping de tegenrekening waarop {facturen} geboekt worden"
            f" (tegenrekening_{word} in koppelaar.toml).",
        )

    def btw_code(self, kind: InvoiceKind, rate: Decimal, category: VatCategory, country: str = "") -> str:
        word = KIND_WORD[kind]
        # Bought from abroad, intra-community (K) is reverse charged by the buyer just as AE is.
        reverse = category is VatCategory.REVERSE_CHARGE or (
            kind is InvoiceKind.PURCHASE and category is VatCategory.INTRA_EU
        )
        key = f"{word}:{rate_key(rate)}" + (":verlegd" if reverse else "")
        # Most specific first: category and the supplier's country (a BE supplier's K → verlegd inkoop).
        specific = [f"{word}:{rate_key(rate)}:{category.value}:{country}"] if country else []
        specific.append(f"{word}:{rate_key(rate)}:{category.value}")
        for candidate in (*specific, key):
            mapped = self.mapping.btw_codes.get(candidate)
            if mapped:
                return mapped
        default = self.target.default_vat_code(kind, rate, reverse)
        if default:
            return default
        raise MappingProblem(
            f"Onbekend btw-tarief {rate_key(rate)}% op {word}facturen",
            key=key,
            advice=f"Kies onder Mapping een btw-code voor '{key}' (btw_codes in koppelaar.toml),"
            " of corrigeer het tarief in de bron.",
        )

    def kostenplaats(self, kind: InvoiceKind, product_group: str) -> str:
        """The line's kostenplaats: its product group's, else the soort's default; '' books without one."""
        if product_group and self.mapping.kostenplaatsen.get(f"groep:{product_group}"):
            return self.mapping.kostenplaatsen[f"groep:{product_group}"]
        return self.mapping.kostenplaatsen.get(KIND_WORD[kind], "")

    def dagboek(self, kind: InvoiceKind) -> str:
        """The koppeling's own dagboek for this soort; '' leaves it to the connection's default."""
        return self.mapping.dagboeken.get(KIND_WORD[kind], "")

    def to_entry(self, invoice: Invoice, reference: str) -> JournalEntry:
        groups: dict[_Group, list[Decimal]] = {}
        descriptions: dict[_Group, str] = {}
        for line in invoice.lines:
            group = _Group(
                account=self.tegenrekening(invoice.kind, line.vat_rate, line.product_group, invoice.party),
                vat_code=self.btw_code(invoice.kind, line.vat_rate, line.vat_category, invoice.party.country),
                rate=line.vat_rate,
                cost_center=self.kostenplaats(invoice.kind, line.product_group),
            )
            groups.setdefault(group, []).append(line.net_amount)
            descriptions.setdefault(group, line.description)
        if not groups:
            raise MappingProblem(
                f"Factuur {invoice.number} heeft geen regels",
                key="regels",
                advice="Een factuur zonder regels kan niet geboekt worden; controleer de factuur in de bron.",
            )

        keys = list(groups)
        nets = [sum(groups[g], ZERO) for g in keys]
        vats = self._vat_per_group(invoice, keys, nets)
        foreign = None
        if invoice.currency != "EUR":
            nets, vats, foreign = self._to_eur(invoice, nets, vats)

        lines = tuple(
            BookingLine(
                account_code=g.account,
                vat_code=g.vat_code,
                vat_rate=g.rate,
                net_amount=net,
                vat_amount=vat,
                description=descriptions[g][:200],
                cost_center=g.cost_center,
            )
            for g, net, vat in zip(keys, nets, vats, strict=True)
        )
        soort = "Creditnota" if invoice.credit_note else "Factuur"
        return JournalEntry(
            reference=reference,
            kind=invoice.kind,
            credit_note=invoice.credit_note,
            date=invoice.issue_date,
            due_date=invoice.due_date,
            invoice_number=invoice.number,
            description=f"{soort} {invoice.number} {invoice.party.name}"[:200],
            relation=invoice.party,
            lines=lines,
            payment_reference=invoice.payment_reference,
            foreign=foreign,
            journal=self.dagboek(invoice.kind),
            # Only what can go along: an attachment whose bytes the source could not give stays behind.
            attachments=self.attachments(invoice),
        )

    def _vat_per_group(self, invoice: Invoice, keys: list[_Group], nets: list[Decimal]) -> list[Decimal]:
        vats = [ZERO] * len(keys)
        for rate in {g.rate for g in keys}:
            idx = [i for i, g in enumerate(keys) if g.rate == rate]
            subtotal = next((v.vat_amount for v in invoice.vat if v.rate == rate), None)
            unrounded = [nets[i] * rate / 100 for i in idx]
            # The invoice's own VAT per rate wins: that is what the customer was charged.
            total = subtotal if subtotal is not None else quantize(sum(unrounded, ZERO), invoice.currency)
            for i, amount in zip(idx, allocate(total, unrounded), strict=True):
                vats[i] = amount
        return vats

    def _to_eur(
        self, invoice: Invoice, nets: list[Decimal], vats: list[Decimal]
    ) -> tuple[list[Decimal], list[Decimal], ForeignAmount]:
        if self.koppeling.currency_policy is CurrencyPolicy.REFUSE:
            raise MappingProblem(
                f"Factuur in vreemde valuta ({invoice.currency})",
                key="valuta",
                advice="Deze koppeling boekt alleen euro's (currency_policy = 'refuse'); boek de factuur"
                " handmatig of zet currency_policy op 'convert_ecb'.",
            )
        try:
            rate, rate_date = self.rates.rate(invoice.currency, invoice.issue_date)
        except RateUnavailable as exc:
            raise MappingProblem(
                f"Geen wisselkoers voor {invoice.currency}",
                key="valuta",
                advice=f"{exc}. Boek de factuur handmatig of werk Koppelaar bij.",
            ) from None
        net_eur = allocate(quantize(invoice.total_net / rate), [n / rate for n in nets])
        vat_eur = allocate(quantize(invoice.total_vat / rate), [v / rate for v in vats])
        return (
            net_eur,
            vat_eur,
            ForeignAmount(
                currency=invoice.currency, gross=invoice.total_gross, rate=rate, rate_date=rate_date
            ),
        )
