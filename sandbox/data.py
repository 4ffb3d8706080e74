"""Realistic FactuurSturen test data: Dutch/Belgian clients and invoices, totals computed like FactuurSturen.

Totals: line total = round_half_up(amount × price × (1 − discount_pct/100)); per VAT rate the VAT is
round_half_up(rate% × sum of that rate's line totals); ``tax`` is the sum over rates and
``totalintax`` = Σ line totals + tax. Half-up is away from zero for credit notes.

Storage is compact (slotted objects, shared Decimals, lines as tuples) so 100,000 invoices fit in
memory and generate in a few seconds.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sandbox._util import round_cents

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)

# FactuurSturen's own numeric country ids with their Dutch names, as the real `countrylist` serves them
# (docs/protocol-decisions.md, "FactuurSturen countries"). The ISO code is for the generator only:
# the vendor's list carries no ISO field.
COUNTRIES: dict[int, tuple[str, str]] = {
    146: ("NL", "Nederland"),
    18: ("BE", "België"),
    50: ("DE", "Duitsland"),
    63: ("FR", "Frankrijk"),
    119: ("LU", "Luxemburg"),
    224: ("GB", "Verenigd Koninkrijk"),
    226: ("US", "Verenigde Staten"),
}
NL, BE, DE, GB, US = 146, 18, 50, 224, 226


@dataclass(slots=True)
class Line:
    """One invoice line; ``amount`` is the quantity (negative on credit notes)."""

    amount: Decimal
    price: Decimal
    tax_rate: int
    description: str
    discount_pct: Decimal = ZERO
    amount_desc: str = ""
    linetotal: Decimal = ZERO

    def __post_init__(self) -> None:
        self.linetotal = line_total(self.amount, self.price, self.discount_pct)


@dataclass(slots=True)
class Client:
    clientnr: int
    company: str
    contact: str
    address: str
    zipcode: str
    city: str
    country: int
    email: str
    taxnumber: str
    kvk: str  # generated for realism but not served: the FactuurSturen API model has no KvK field
    iban: str  # served as `bankcode`, the vendor's name for the IBAN
    phone: str = ""


@dataclass(slots=True)
class Invoice:
    """A sent invoice. ``legacy`` invoices serialise lines/taxes/history as ``[]`` (zero amount)."""

    id: int
    invoicenr: str
    clientnr: int
    sent: str
    duedate: str
    lines: tuple[Line, ...]
    paiddate: str = ""
    currency: str | None = None
    paymentperiod: int = 14
    reference: tuple[str, str, str] = ("", "", "")
    tax_shifted: bool = False
    language: str = "nl"
    profile: int = 1
    legacy: bool = False
    prefix: str = "F"
    # computed by compute_totals()
    taxes: tuple[tuple[int, Decimal, Decimal], ...] = field(default=())  # (rate, sum, sum_of)
    tax: Decimal = ZERO
    totalintax: Decimal = ZERO
    open: Decimal = ZERO

    def __post_init__(self) -> None:
        self.compute_totals()

    @property
    def invoicenr_full(self) -> str:
        return f"{self.prefix}{self.invoicenr}"

    @property
    def subtotal(self) -> Decimal:
        return sum((ln.linetotal for ln in self.lines), ZERO)

    def compute_totals(self) -> None:
        by_rate: dict[int, Decimal] = {}
        for ln in self.lines:
            by_rate[ln.tax_rate] = by_rate.get(ln.tax_rate, ZERO) + ln.linetotal
        self.taxes = tuple(
            (rate, round_cents(base * rate / HUNDRED), base)
            for rate, base in sorted(by_rate.items(), reverse=True)
        )
        self.tax = sum((t[1] for t in self.taxes), ZERO)
        self.totalintax = self.subtotal + self.tax
        self.open = ZERO if self.paiddate else self.totalintax

    @property
    def history(self) -> list[tuple[str, str, str]]:
        if self.legacy:
            return []
        items = [(self.sent, "10:56", "Factuur verstuurd via e-mail")]
        if self.paiddate:
            items.append((self.paiddate, "09:12", "Betaling geregistreerd"))
        return items


def line_total(amount: Decimal, price: Decimal, discount_pct: Decimal) -> Decimal:
    if discount_pct:
        return round_cents(amount * price * (HUNDRED - discount_pct) / HUNDRED)
    return round_cents(amount * price)


@dataclass
class DemoData:
    clients: list[Client]
    invoices: list[Invoice]


# --- identifiers with valid checksums ---------------------------------------------------------


def nl_vat_number(rng: random.Random) -> str:
    """NL VAT number (``NL#########B01``) whose 9 digits pass the 11-proof (stdnum nl.btw)."""
    while True:
        digits = [rng.randint(0, 9) for _ in range(8)]
        if digits[0] == 0:
            continue
        check = sum(d * (9 - i) for i, d in enumerate(digits)) % 11
        if check < 10:
            return "NL" + "".join(map(str, digits)) + str(check) + "B01"


def be_vat_number(rng: random.Random) -> str:
    """BE VAT number ``BE0#########``: last two digits = 97 − (first eight mod 97)."""
    base = rng.randint(2_000_000, 9_999_999)  # leading '0' makes the 10-digit form
    return f"BE{base:08d}{97 - base % 97:02d}"


def de_vat_number(rng: random.Random) -> str:
    """DE VAT number ``DE#########`` with the ISO 7064 mod 11,10 check digit."""
    body = f"{rng.randint(10_000_000, 99_999_999)}"
    check = 5
    for ch in body:
        check = (((check or 10) * 2) % 11 + int(ch)) % 10
    return f"DE{body}{(1 - ((check or 10) * 2) % 11) % 10}"


def nl_iban(rng: random.Random) -> str:
    bank = rng.choice(("ABNA", "INGB", "RABO", "TRIO", "KNAB", "BUNQ", "SNSB"))
    account = f"{rng.randint(10**8, 10**10 - 1):010d}"
    numeric = "".join(str(int(c, 36)) for c in bank + account + "NL00")
    return f"NL{98 - int(numeric) % 97:02d}{bank}{account}"


def kvk_number(rng: random.Random) -> str:
    return f"{rng.randint(10_000_000, 99_999_999)}"


# --- names and places -------------------------------------------------------------------------

_FIRST = ("De", "Van der", "Van den", "Van", "Het", "Ter", "Ten", "Den")
_STEM = (
    "Berg", "Linden", "Molen", "Brug", "Haven", "Vaart", "Dijk", "Heuvel", "Wind", "Zon", "Eik", "Beuk",
    "Kade", "Gracht", "Polder", "Sluis", "Toren", "Poort", "Akker", "Weide", "Bron", "Veld", "Hoek", "Burcht",
)  # fmt: skip
_TRADE = (
    "Installatietechniek", "Bouw", "Advies", "Consultancy", "ICT", "Schilderwerken", "Transport", "Logistiek",
    "Bakkerij", "Architecten", "Communicatie", "Hoveniers", "Vastgoed", "Accountants", "Media", "Techniek",
    "Metaal", "Catering", "Interieur", "Software", "Zorg", "Elektro", "Dakwerken", "Fotografie",
)  # fmt: skip
_FORM = ("B.V.", "B.V.", "B.V.", "BV", "VOF", "V.O.F.", "Holding B.V.", "")
_PERSON_FIRST = (
    "Jan",
    "Sanne",
    "Pieter",
    "Anouk",
    "Daan",
    "Fleur",
    "Bram",
    "Lotte",
    "Sem",
    "Eva",
    "Ruben",
    "Noor",
)
_PERSON_LAST = (
    "de Vries",
    "Jansen",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "Bos",
    "Peters",
)
_STREETS = (
    "Keizersgracht", "Prinsengracht", "Damrak", "Oudegracht", "Biltstraat", "Maliebaan", "Coolsingel",
    "Stationsplein", "Kerkstraat", "Dorpsstraat", "Industrieweg", "Handelsweg", "Nieuwegracht", "Vredenburg",
)  # fmt: skip
_CITIES_NL = (("Amsterdam", 1011, 1109), ("Utrecht", 3511, 3585), ("Rotterdam", 3011, 3089),
              ("Den Haag", 2511, 2597), ("Eindhoven", 5611, 5658), ("Haarlem", 2011, 2037))  # fmt: skip
_CITIES_BE = (("Antwerpen", 2000), ("Gent", 9000), ("Brussel", 1000), ("Leuven", 3000))
_FOREIGN = (
    (GB, "London", "EC1A 1BB", "GBP"),
    (US, "New York", "NY 10001", "USD"),
    (DE, "Berlin", "10115", "EUR"),
)

# (description, price, tax rate, unit) — prices are shared Decimal objects to keep memory small.
_PRODUCTS_21 = [
    ("Advieswerk", Decimal("95.00"), "uur"), ("Ontwikkeling software", Decimal("87.50"), "uur"),
    ("Installatie en montage", Decimal("62.50"), "uur"), ("Hosting maandabonnement", Decimal("24.95"), ""),
    ("Licentie jaarabonnement", Decimal("349.00"), ""), ("Schilderwerk", Decimal("48.75"), "uur"),
    ("Transportkosten", Decimal("1.35"), "km"), ("Ontwerp huisstijl", Decimal("1250.00"), ""),
]  # fmt: skip
_PRODUCTS_9 = [
    ("Catering lunch", Decimal("12.45"), "p.p."), ("Boeken en tijdschriften", Decimal("29.99"), ""),
    ("Bloemen en planten", Decimal("17.50"), ""), ("Appels", Decimal("13.00"), "kist"),
]  # fmt: skip
_AMOUNTS = [
    Decimal(x) for x in ("1", "1", "1", "2", "3", "4", "5", "8", "10", "12", "0.5", "2.5", "7.25", "40")
]
_DISCOUNTS = [ZERO] * 8 + [Decimal("5"), Decimal("10"), Decimal("12.5")]


def _company(rng: random.Random) -> str:
    form = rng.choice(_FORM)
    name = f"{rng.choice(_FIRST)} {rng.choice(_STEM)} {rng.choice(_TRADE)}"
    return f"{name} {form}".strip()


def make_client(rng: random.Random, clientnr: int) -> Client:
    """One client: ~85% NL, ~8% BE, the rest GB/US/DE (export, foreign currency)."""
    contact = f"{rng.choice(_PERSON_FIRST)} {rng.choice(_PERSON_LAST)}"
    company = _company(rng)
    slug = "".join(ch for ch in company.lower() if ch.isalnum())[:18]
    roll = rng.random()
    street = f"{rng.choice(_STREETS)} {rng.randint(1, 250)}"
    if roll < 0.88:
        city, lo, hi = rng.choice(_CITIES_NL)
        zipcode = (
            f"{rng.randint(lo, hi)} {rng.choice('ABCDEGHJKLMNPRSTVWXZ')}{rng.choice('ABCDEGHJKLMNPRSTVWXZ')}"
        )
        return Client(clientnr, company, contact, street, zipcode, city, NL, f"info@{slug}.nl",
                      nl_vat_number(rng), kvk_number(rng), nl_iban(rng), f"0{rng.randint(100000000, 999999999)}")  # fmt: skip
    if roll < 0.95:
        city, pc = rng.choice(_CITIES_BE)
        return Client(clientnr, company.replace("B.V.", "BV"), contact, street, str(pc + rng.randint(0, 99)), city,
                      BE, f"info@{slug}.be", be_vat_number(rng), "", "")  # fmt: skip
    country, city, zipcode, _cur = rng.choice(_FOREIGN)
    name = company.split(" B.V")[0] + (" Ltd" if country == GB else " Inc." if country == US else " GmbH")
    vat = de_vat_number(rng) if country == DE else ""
    return Client(
        clientnr, name, contact, street, zipcode, city, country, f"accounts@{slug}.com", vat, "", ""
    )


def _currency_for(client: Client) -> str | None:
    if client.country == GB:
        return "GBP"
    if client.country == US:
        return "USD"
    return None


def make_lines(rng: random.Random, client: Client, credit: bool) -> tuple[tuple[Line, ...], bool]:
    """1–4 lines; 0% for EU reverse charge (tax_shifted) and for export outside the EU."""
    shifted = client.country in (BE, DE) and bool(client.taxnumber)
    export = client.country in (GB, US)
    lines: list[Line] = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        if not (shifted or export) and rng.random() < 0.2:
            desc, price, unit = rng.choice(_PRODUCTS_9)
            rate = 9
        else:
            desc, price, unit = rng.choice(_PRODUCTS_21)
            rate = 0 if (shifted or export) else 21
        amount = rng.choice(_AMOUNTS)
        if credit:
            amount = -amount
        lines.append(Line(amount, price, rate, desc, rng.choice(_DISCOUNTS), unit))
    return tuple(lines), shifted


def make_demo_invoices(
    n: int,
    seed: int = 1,
    *,
    end: date = date(2025, 12, 31),
    days: int | None = None,
    first_id: int = 1_000_001,
    n_clients: int | None = None,
) -> DemoData:
    """``n`` invoices over ``days`` days ending at ``end`` (sorted by (sent, id)), plus their clients.

    Mix: ~4% credit notes (negative amounts), foreign-currency invoices (USD/GBP) for UK/US clients,
    reverse-charge invoices for BE/DE clients, ~0.5% legacy zero-amount invoices with empty
    lines/taxes/history, most invoices older than 30 days paid.
    """
    rng = random.Random(seed)
    n_clients = n_clients or max(8, min(5000, n // 20 + 8))
    clients = [make_client(rng, 100 + i) for i in range(n_clients)]
    # A typical NL small business: ~92% Dutch clients (a few very busy ones), ~5% EU reverse charge,
    # ~3% export in USD/GBP.
    dutch = [c for c in clients if c.country == NL] or clients
    eu = [c for c in clients if c.country in (BE, DE)] or dutch
    export = [c for c in clients if c.country in (GB, US)] or dutch
    span = days if days is not None else max(60, min(3 * 365, n // 3))
    start = end - timedelta(days=span - 1)
    offsets = sorted(rng.randrange(span) for _ in range(n))
    invoices: list[Invoice] = []
    seq_by_year: dict[int, int] = {}
    for i, off in enumerate(offsets):
        sent_d = start + timedelta(days=off)
        year = sent_d.year
        seq_by_year[year] = seq_by_year.get(year, 0) + 1
        roll = rng.random()
        if roll < 0.03:
            client = export[int(roll * 1e6) % len(export)]
        elif roll < 0.08:
            client = eu[int(roll * 1e6) % len(eu)]
        else:
            client = dutch[int(rng.paretovariate(1.2) * 3) % len(dutch)]
        roll = rng.random()
        legacy = roll < 0.005
        credit = 0.005 <= roll < 0.045
        period = rng.choice((14, 14, 30, 30, 8))
        if legacy:
            lines: tuple[Line, ...] = ()
            shifted = False
        else:
            lines, shifted = make_lines(rng, client, credit)
        age = (end - sent_d).days
        paid = age > 30 and rng.random() < (0.97 if age > 120 else 0.6)
        paiddate = (sent_d + timedelta(days=rng.randint(1, period + 10))).isoformat() if paid else ""
        inv = Invoice(
            id=first_id + i,
            invoicenr=f"{year}{seq_by_year[year]:05d}",
            clientnr=client.clientnr,
            sent=sent_d.isoformat(),
            duedate=(sent_d + timedelta(days=period)).isoformat(),
            lines=lines,
            paiddate=paiddate,
            currency=_currency_for(client),
            paymentperiod=period,
            reference=(f"PO-{rng.randint(1000, 99999)}" if rng.random() < 0.2 else "", "", ""),
            tax_shifted=shifted,
            language="en" if client.country in (GB, US) else "nl",
            legacy=legacy,
        )
        if legacy:
            inv.paiddate = ""
            inv.open = ZERO
        invoices.append(inv)
    return DemoData(clients, invoices)


def lines_from_specs(specs: Iterable[Sequence[object] | Line]) -> tuple[Line, ...]:
    """Build lines from ``(amount, price, tax_rate, description[, discount_pct])`` tuples."""
    out: list[Line] = []
    for spec in specs:
        if isinstance(spec, Line):
            out.append(spec)
            continue
        amount, price, rate, desc, *rest = spec
        discount = Decimal(str(rest[0])) if rest else ZERO
        out.append(Line(Decimal(str(amount)), Decimal(str(price)), int(str(rate)), str(desc), discount))
    return tuple(out)
