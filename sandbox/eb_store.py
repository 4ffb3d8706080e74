"""e-Boekhouden administration store and booking rules, shared by the REST and SOAP front ends.

REST and SOAP are two doors into the same product, so both book through ``Administration.book``
and land in the same ``mutations`` list (SOAP ``Mutatienummer`` == REST ``id``).
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox._util import round_cents

ZERO = Decimal("0.00")

# --- VAT codes: code -> (kind, rate %). Rate None = "Afwijkend" (caller supplies vatAmount).
# Reverse-charge / EU / export codes carry 0 VAT here: self-assessed VAT is not modelled.
NL_VAT: dict[str, tuple[str, Decimal | None]] = {
    "HOOG_VERK_21": ("sales", Decimal(21)),
    "LAAG_VERK_9": ("sales", Decimal(9)),
    "LAAG_VERK": ("sales", Decimal(6)),
    "VERL_VERK": ("sales", Decimal(0)),
    "VERL_VERK_L9": ("sales", Decimal(0)),
    "AFW_VERK": ("sales", None),
    "BU_EU_VERK": ("sales", Decimal(0)),
    "AFST_VERK": ("sales", Decimal(0)),
    "BI_EU_VERK_D": ("sales", Decimal(0)),
    "HOOG_INK_21": ("purchase", Decimal(21)),
    "LAAG_INK_9": ("purchase", Decimal(9)),
    "LAAG_INK": ("purchase", Decimal(6)),
    "VERL_INK": ("purchase", Decimal(0)),
    "VERL_INK_L9": ("purchase", Decimal(0)),
    "VERL_INK_L": ("purchase", Decimal(0)),
    "AFW": ("purchase", None),
    "BU_EU_INK": ("purchase", Decimal(0)),
    "BI_EU_INK": ("purchase", Decimal(0)),
    "BI_EU_VERK": ("purchase", Decimal(0)),  # the vendor spec lists it as a purchase code
    "GEEN": ("none", Decimal(0)),
}
_BE_RATES = (0, 6, 12, 21)
BE_VAT: dict[str, tuple[str, Decimal | None]] = {"GEEN": ("none", Decimal(0))}
for _r in _BE_RATES:
    BE_VAT[f"BE_{_r}_INK"] = ("purchase", Decimal(_r))
    BE_VAT[f"BE_{_r}_VERK"] = ("sales", Decimal(_r))
    for _p in ("BE_VERL", "BE_IC_D", "BE_IC", "BE_IMP"):
        BE_VAT[f"{_p}_{_r}_INK"] = ("purchase", Decimal(0))
for _c in ("BE_IC_D_VERK", "BE_VERL_VERK", "BE_IC_VERK", "BE_EXP_VERK"):
    BE_VAT[_c] = ("sales", Decimal(0))
# SOAP: the REST NL list without VERL_INK_L, plus the old 19% codes; LAAG_VERK is 6%/9% by date.
SOAP_VAT: dict[str, tuple[str, Decimal | None]] = {k: v for k, v in NL_VAT.items() if k != "VERL_INK_L"}
SOAP_VAT["HOOG_VERK"] = ("sales", Decimal(19))
SOAP_VAT["HOOG_INK"] = ("purchase", Decimal(19))
REVERSE_CHARGE_PURCHASE = {"VERL_INK", "VERL_INK_L9", "VERL_INK_L"}
AFW_CODES = {"AFW", "AFW_VERK"}

MUTATION_TYPES = {1, 2, 3, 4, 5, 6, 7}
INVOICE_TYPES = {1, 2}
PAYMENT_TYPES = {3, 4}
NO_BALANCE_ROWS = {1, 2, 5, 6}  # row ledgers may not be FIN/DEB/CRED
PURCHASE_TYPES = {1, 6}
SALES_TYPES = {2, 5}
HEADER_CATEGORY = {1: "CRED", 2: "DEB", 3: "FIN", 4: "FIN", 5: "FIN", 6: "FIN"}
MAX_ROWS = 500
SOORT_TO_TYPE = {
    "FactuurOntvangen": 1,
    "FactuurVerstuurd": 2,
    "FactuurbetalingOntvangen": 3,
    "FactuurbetalingVerstuurd": 4,
    "GeldOntvangen": 5,
    "GeldUitgegeven": 6,
    "Memoriaal": 7,
}
TYPE_TO_SOORT = {v: k for k, v in SOORT_TO_TYPE.items()}


class BookError(Exception):
    """A validation failure in the vendor's terms (code as in the fact sheet)."""

    def __init__(self, code: str, message: str, prop: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.prop = prop


@dataclass(slots=True)
class Ledger:
    id: int
    code: str
    description: str
    category: str
    group: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "code": self.code, "description": self.description, "category": self.category}


@dataclass(slots=True)
class Relation:
    id: int
    code: str
    name: str
    type: str = "B"  # B = business, P = private person
    vat_number: str = ""
    coc_number: str = ""
    address: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = "NL"
    email: str = ""
    iban: str = ""
    contact: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "code": self.code,
            "name": self.name,
            "contact": self.contact,
            "vatNumber": self.vat_number,
            "companyRegistrationNumber": self.coc_number,
            "address": self.address,
            "postalCode": self.postal_code,
            "city": self.city,
            "country": self.country,
            "emailAddress": self.email,
            "iban": self.iban,
        }


@dataclass(slots=True)
class CostCenter:
    """A kostenplaats. ``parent_id`` 0 = top level; an inactive one is still listed (REST) and bookable."""

    id: int
    description: str
    parent_id: int = 0
    active: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "parentId": self.parent_id,
            "active": self.active,
        }


@dataclass(slots=True)
class MutationRow:
    """A booked row. ``amount`` is as entered (incl. VAT when the mutation is IN)."""

    ledger_id: int
    vat_code: str
    amount: Decimal
    vat_amount: Decimal  # computed, or given with AFW/AFW_VERK
    description: str = ""
    invoice_number: str = ""
    cost_center_id: int | None = None
    vat_given: bool = False

    @property
    def amount_ex(self) -> Decimal:
        return self.amount

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ledgerId": self.ledger_id,
            "vatCode": self.vat_code,
            "amount": self.amount,
            "description": self.description,
        }
        if self.vat_given:
            out["vatAmount"] = self.vat_amount
        if self.invoice_number:
            out["invoiceNumber"] = self.invoice_number
        if self.cost_center_id is not None:
            out["costCenterId"] = self.cost_center_id
        return out


@dataclass(slots=True)
class Mutation:
    id: int
    type: int
    date: str
    ledger_id: int
    relation_id: int | None
    invoice_number: str
    in_ex_vat: str
    rows: list[MutationRow]
    description: str = ""
    entry_number: str = ""
    term_of_payment: int = 0
    payment_reference: str = ""
    via: str = "rest"  # "rest" or "soap": which door booked it

    @property
    def vat(self) -> list[tuple[str, Decimal]]:
        """VAT per code (every code except GEEN), in first-seen order."""
        sums: dict[str, Decimal] = {}
        for r in self.rows:
            if r.vat_code != "GEEN":
                sums[r.vat_code] = sums.get(r.vat_code, ZERO) + r.vat_amount
        return list(sums.items())

    @property
    def total_vat(self) -> Decimal:
        return sum((r.vat_amount for r in self.rows), ZERO)

    @property
    def amount(self) -> Decimal:
        """Total including VAT."""
        base = sum((r.amount for r in self.rows), ZERO)
        return base if self.in_ex_vat == "IN" else base + self.total_vat

    def thin_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "date": self.date,
            "invoiceNumber": self.invoice_number,
            "ledgerId": self.ledger_id,
            "amount": self.amount,
            "entryNumber": self.entry_number,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "date": self.date,
            "description": self.description,
            "termOfPayment": self.term_of_payment,
            "ledgerId": self.ledger_id,
            "relationId": self.relation_id,
            "inExVat": self.in_ex_vat,
            "invoiceNumber": self.invoice_number,
            "entryNumber": self.entry_number,
            "paymentReference": self.payment_reference,
            "rows": [r.to_json() for r in self.rows],
            "vat": [{"vatCode": code, "amount": amt} for code, amt in self.vat],
        }


# A realistic small NL chart (RGS-like numbering). ids are assigned from the administration's base.
NL_CHART: list[tuple[str, str, str]] = [
    ("0100", "Inventaris", "BAL"),
    ("0500", "Eigen vermogen", "BAL"),
    ("1000", "Kas", "FIN"),
    ("1100", "Bank", "FIN"),
    ("1110", "Spaarrekening", "FIN"),
    ("1300", "Debiteuren", "DEB"),
    ("1500", "BTW af te dragen hoog", "AF19"),
    ("1510", "BTW af te dragen laag", "AF6"),
    ("1515", "BTW af te dragen overig", "AFOVERIG"),
    ("1520", "BTW te vorderen", "VOOR"),
    ("1530", "BTW verlegd", "BTWRC"),
    ("1540", "Afdracht BTW", "AF"),
    ("1600", "Crediteuren", "CRED"),
    ("2000", "Vraagposten", "BAL"),
    ("4000", "Lonen en salarissen", "VW"),
    ("4100", "Huisvestingskosten", "VW"),
    ("4200", "Autokosten", "VW"),
    ("4300", "Kantoorkosten", "VW"),
    ("4400", "Verkoopkosten", "VW"),
    ("4500", "Algemene kosten", "VW"),
    ("4600", "Advieskosten", "VW"),
    ("4900", "Overige kosten", "VW"),
    ("7000", "Inkoopwaarde omzet", "VW"),
    ("8000", "Omzet hoog", "VW"),
    ("8010", "Omzet laag", "VW"),
    ("8020", "Omzet verlegd/export", "VW"),
    ("8030", "Omzet EU", "VW"),
    ("8900", "Overige opbrengsten", "VW"),
]

# Kostenplaatsen of a small consultancy: (description, parent description or "", active).
NL_COST_CENTERS: list[tuple[str, str, bool]] = [
    ("Algemeen", "", True),
    ("Advies", "", True),
    ("Detachering", "", True),
    ("Projecten Zuid", "Detachering", True),
    ("Vestiging Tilburg", "", False),  # a closed branch: kept for its history, marked inactive
]


def parse_amount(value: object) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise InvalidOperation
    if isinstance(value, float):  # never from our JSON parser; guard anyway
        value = repr(value)
    result = Decimal(str(value).strip())
    if not result.is_finite():
        raise InvalidOperation
    return result


@dataclass
class Administration:
    """One bookkeeping administration: ledgers, relations, mutations."""

    id: int
    name: str
    company: str
    country: str = "NL"
    guid: str = ""
    city: str = "Amsterdam"
    closed_until: str | None = None  # inclusive; bookings dated on/before → MUT_005
    ledgers: dict[int, Ledger] = field(default_factory=dict)
    relations: dict[int, Relation] = field(default_factory=dict)
    cost_centers: dict[int, CostCenter] = field(default_factory=dict)
    mutations: list[Mutation] = field(default_factory=list)
    # invoice number → its mutations (every type), kept in step with ``mutations`` by ``book``, so the
    # duplicate check does not scan the whole history (a 100,000-invoice benchmark).
    _by_invoice: dict[str, list[Mutation]] = field(default_factory=dict, repr=False)
    _mut_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _rel_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(68_217_601))
    _ledger_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(48_086_601))
    _cost_center_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(411_601))

    def __post_init__(self) -> None:
        if not self.ledgers:
            for code, desc, cat in NL_CHART:
                self.add_ledger(code, desc, cat)
        if not self.cost_centers:
            ids: dict[str, int] = {}
            for desc, parent, active in NL_COST_CENTERS:
                ids[desc] = self.add_cost_center(desc, parent_id=ids.get(parent, 0), active=active).id

    # --- ledgers and relations
    def add_ledger(self, code: str, description: str, category: str) -> Ledger:
        ledger = Ledger(next(self._ledger_ids), code, description, category)
        self.ledgers[ledger.id] = ledger
        return ledger

    def add_cost_center(self, description: str, *, parent_id: int = 0, active: bool = True) -> CostCenter:
        center = CostCenter(next(self._cost_center_ids), description, parent_id, active)
        self.cost_centers[center.id] = center
        return center

    def ledger_by_code(self, code: str) -> Ledger | None:
        return next((lg for lg in self.ledgers.values() if lg.code == code), None)

    def relation_by_code(self, code: str) -> Relation | None:
        return next((r for r in self.relations.values() if r.code == code), None)

    def add_relation(self, code: str, name: str, **fields: Any) -> Relation:
        if not code or not code.strip():
            raise BookError("REL_001", "Relation code is required", "code")
        if self.relation_by_code(code) is not None:
            raise BookError("REL_049", f"Relation code '{code}' already exists", "code")
        rtype = fields.get("type", "B")
        if rtype not in ("B", "P"):
            raise BookError("REL_001", "Relation type must be B or P", "type")
        if not name and rtype == "B":
            raise BookError("REL_001", "Name is required for a business relation", "name")
        coc = fields.get("coc_number", "")
        if coc and not str(coc).isdigit():
            raise BookError("REL_008", "KvK number must be numeric", "companyRegistrationNumber")
        rel = Relation(next(self._rel_ids), code, name, **fields)
        self.relations[rel.id] = rel
        return rel

    # --- booking
    def book(
        self, spec: dict[str, Any], via: str = "rest", vat_table: dict[str, Any] | None = None
    ) -> Mutation:
        """Validate a REST-shaped mutation and store it; raises BookError with the vendor code."""
        table: dict[str, tuple[str, Decimal | None]] = vat_table or (
            NL_VAT if self.country == "NL" else BE_VAT
        )
        try:
            mtype = int(str(spec.get("type", "")).strip())
        except ValueError:
            mtype = 0
        if mtype not in MUTATION_TYPES:
            raise BookError("MUT_001", "Type must be one of 1..7", "type")
        mdate = str(spec.get("date") or "")[:10]
        try:
            date.fromisoformat(mdate)
        except ValueError:
            raise BookError("MUT_003", "Date is missing or not YYYY-MM-DD", "date") from None
        if self.closed_until is not None and mdate <= self.closed_until:
            raise BookError("MUT_005", f"The period up to {self.closed_until} is closed", "date")
        header = self._ledger(spec.get("ledgerId"), "ledgerId")
        want = HEADER_CATEGORY.get(mtype)
        if want is not None and header.category != want:
            raise BookError(
                "MUT_008", f"Ledger {header.code} must be of category {want} for type {mtype}", "ledgerId"
            )
        rel_raw = spec.get("relationId")
        relation_id: int | None = None
        if rel_raw in (None, "", 0):
            if mtype in INVOICE_TYPES | PAYMENT_TYPES:
                raise BookError("MUT_012", "Relation is required for this mutation type", "relationId")
        else:
            try:
                relation_id = int(str(rel_raw))
            except ValueError:
                relation_id = -1
            if relation_id not in self.relations:
                raise BookError("MUT_013", f"Relation {rel_raw} not found", "relationId")
        invoice = str(spec.get("invoiceNumber") or "").strip()
        if mtype in INVOICE_TYPES and not invoice:
            raise BookError("MUT_002", "Invoice number is required", "invoiceNumber")
        in_ex = spec.get("inExVat")
        if in_ex not in ("IN", "EX"):
            raise BookError("MUT_017", "inExVat must be IN or EX", "inExVat")
        raw_rows = spec.get("rows")
        if not isinstance(raw_rows, list) or not raw_rows:
            raise BookError("MUT_100", "At least one row is required", "rows")
        if len(raw_rows) > MAX_ROWS:
            raise BookError("MUT_101", f"At most {MAX_ROWS} rows", "rows")
        rows = [self._row(i, r, mtype, str(in_ex), mdate, table, via) for i, r in enumerate(raw_rows)]
        if mtype in INVOICE_TYPES:
            same_number = self._by_invoice.get(invoice, [])
            if any(m.type == mtype and m.relation_id == relation_id for m in same_number):
                raise BookError(
                    "MUT_020",
                    "The combination of relation and invoice number already exists",
                    "invoiceNumber",
                )
            if mtype == 2 and any(m.type == 2 for m in same_number):
                raise BookError("MUT_019", f"Invoice number {invoice} already exists", "invoiceNumber")
        pay_ref = str(spec.get("paymentReference") or "")
        if (
            pay_ref
            and spec.get("checkPaymentReference")
            and any(m.payment_reference == pay_ref for m in self.mutations)
        ):
            raise BookError("MUTA_008", "Payment reference already exists", "paymentReference")
        try:
            term = int(str(spec.get("termOfPayment") or 0))
        except ValueError:
            term = 0
        mutation = Mutation(
            id=next(self._mut_ids),
            type=mtype,
            date=mdate,
            ledger_id=header.id,
            relation_id=relation_id,
            invoice_number=invoice,
            in_ex_vat=str(in_ex),
            rows=rows,
            description=str(spec.get("description") or ""),
            entry_number=str(spec.get("entryNumber") or ""),
            term_of_payment=term,
            payment_reference=pay_ref,
            via=via,
        )
        self.mutations.append(mutation)
        self._by_invoice.setdefault(invoice, []).append(mutation)
        return mutation

    def _cost_center(self, raw: object, prop: str) -> int | None:
        """The row's cost centre id; absent or 0 books without one. Only existence is checked."""
        if raw in (None, "") or (type(raw) is int and raw == 0):
            return None
        if type(raw) is int and raw in self.cost_centers:  # a JSON integer: not a bool, not a string
            return raw
        raise BookError("MUT_113", f"Cost center {raw!r} not found", prop)

    def _ledger(self, raw: object, prop: str) -> Ledger:
        try:
            ledger = self.ledgers.get(int(str(raw)))
        except ValueError:
            ledger = None
        if ledger is None:
            raise BookError("MUT_007", f"Ledger {raw!r} not found", prop)
        return ledger

    def _row(
        self,
        i: int,
        raw: object,
        mtype: int,
        in_ex: str,
        mdate: str,
        table: dict[str, tuple[str, Decimal | None]],
        via: str,
    ) -> MutationRow:
        where = f"rows[{i}]"
        if not isinstance(raw, dict):
            raise BookError("MUT_100", "A row must be an object", where)
        ledger = self._ledger(raw.get("ledgerId"), f"{where}.ledgerId")
        if mtype in NO_BALANCE_ROWS and ledger.category in ("FIN", "DEB", "CRED"):
            raise BookError(
                "MUT_112",
                f"Row ledger {ledger.code} may not be of category {ledger.category} for type {mtype}",
                f"{where}.ledgerId",
            )
        code = raw.get("vatCode")
        if not isinstance(code, str) or code not in table:
            raise BookError("MUT_109", f"VAT code {code!r} is not valid", f"{where}.vatCode")
        kind, rate = table[code]
        if code == "LAAG_VERK" and via == "soap" and mdate >= "2019-01-01":
            rate = Decimal(9)
        if mtype in PURCHASE_TYPES and kind == "sales":
            raise BookError("MUT_110", f"VAT code {code} must be a purchase code", f"{where}.vatCode")
        if mtype in SALES_TYPES and kind == "purchase":
            raise BookError("MUT_111", f"VAT code {code} must be a sales code", f"{where}.vatCode")
        if code in REVERSE_CHARGE_PURCHASE and in_ex == "IN":
            raise BookError("MUT_026", "Reverse-charge purchases must be booked EX VAT", "inExVat")
        try:
            amount = parse_amount(raw.get("amount"))
        except (InvalidOperation, ValueError):
            raise BookError("MUT_104", "Row amount is missing or not a number", f"{where}.amount") from None
        if amount != round_cents(amount):  # sub-cent amounts are a caller bug; do not round silently
            raise BookError("MUT_104", "Row amount has more than 2 decimals", f"{where}.amount")
        amount = round_cents(amount)
        given = raw.get("vatAmount")
        if given is not None and code not in AFW_CODES:
            raise BookError(
                "MUTA_003", f"vatAmount is not allowed with VAT code {code}", f"{where}.vatAmount"
            )
        if rate is None:
            if given is None:
                raise BookError(
                    "MUTA_004", f"vatAmount is required with VAT code {code}", f"{where}.vatAmount"
                )
            try:
                vat = round_cents(parse_amount(given))
            except (InvalidOperation, ValueError):
                raise BookError("MUTA_004", "vatAmount is not a number", f"{where}.vatAmount") from None
        elif in_ex == "EX":
            vat = round_cents(amount * rate / 100)
        else:
            vat = round_cents(amount * rate / (100 + rate))
        row_invoice = str(raw.get("invoiceNumber") or "")
        if mtype in PAYMENT_TYPES and not row_invoice:
            raise BookError("MUT_002", "Invoice number is required on payment rows", f"{where}.invoiceNumber")
        cost_center = self._cost_center(raw.get("costCenterId"), f"{where}.costCenterId")
        return MutationRow(
            ledger_id=ledger.id,
            vat_code=code,
            amount=amount,
            vat_amount=vat,
            description=str(raw.get("description") or ""),
            invoice_number=row_invoice,
            cost_center_id=cost_center,
            vat_given=rate is None,
        )


_FILTER_KEY = re.compile(r"^([A-Za-z]+)(?:\[([a-z_]+)\])?$")
FILTER_OPS = {"eq", "not_eq", "like", "not_like", "gt", "gte", "lt", "lte", "range"}


def _like(pattern: str) -> re.Pattern[str]:
    parts = []
    for ch in pattern:
        parts.append(".*" if ch == "%" else "." if ch == "?" else re.escape(ch))
    return re.compile("^" + "".join(parts) + "$", re.IGNORECASE | re.DOTALL)


def apply_filters(
    items: list[dict[str, Any]], params: list[tuple[str, str]], fields: dict[str, str]
) -> list[dict[str, Any]]:
    """Vendor filter syntax ``?field[op]=value``; ``fields`` maps name → "int"|"str"|"date".

    Raises BookError(FILTER_001) for an unknown parameter or operator: a typo must not silently
    return everything.
    """
    for key, value in params:
        if key in ("limit", "offset"):
            continue
        m = _FILTER_KEY.match(key)
        if not m or m.group(1) not in fields or (m.group(2) or "eq") not in FILTER_OPS:
            raise BookError("FILTER_001", f"Unknown filter parameter '{key}'", key)
        name, op = m.group(1), m.group(2) or "eq"
        kind = fields[name]
        if op in ("gt", "gte", "lt", "lte", "range") and kind == "str":
            raise BookError("FILTER_001", f"Operator {op} is not allowed on {name}", key)

        def conv(v: str, kind: str = kind, key: str = key) -> Any:
            if kind == "int":
                try:
                    return int(v)
                except ValueError:
                    raise BookError("FILTER_001", f"'{v}' is not a number", key) from None
            return v if kind == "date" else v.lower()

        if op in ("like", "not_like"):
            rx = _like(value)
            keep = op == "like"
            items = [it for it in items if bool(rx.match(str(it.get(name) or ""))) == keep]
            continue
        if op == "range":
            lo_s, _, hi_s = value.partition(",")
            lo, hi = conv(lo_s), conv(hi_s)
            items = [it for it in items if it.get(name) is not None and lo <= _norm(it[name], kind) <= hi]
            continue
        target = conv(value)
        cmp: Callable[[Any, Any], bool] = _COMPARE[op]
        items = [it for it in items if it.get(name) is not None and cmp(_norm(it[name], kind), target)]
    return items


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "not_eq": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _norm(value: Any, kind: str) -> Any:
    if kind == "int":
        return int(value)
    return str(value) if kind == "date" else str(value).lower()
