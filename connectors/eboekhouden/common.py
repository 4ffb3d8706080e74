"""What both e-Boekhouden dialects (REST and SOAP) share: VAT codes, error advice, booking texts."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from connectors.errors import Origin, RejectedError
from connectors.model import BookingLine, InvoiceKind, JournalEntry, VatCategory, VatCode
from connectors.money import vat_of

Country = Literal["NL", "BE"]
SALES = InvoiceKind.SALES
PURCHASE = InvoiceKind.PURCHASE
S, AE, K, G, Z = (
    VatCategory.STANDARD,
    VatCategory.REVERSE_CHARGE,
    VatCategory.INTRA_EU,
    VatCategory.EXPORT,
    VatCategory.ZERO,
)
D = Decimal

SETTINGS_PATH = "Beheer → Instellingen → Koppelingen → API/SOAP"
TOKEN_PATH = "Beheer → Inrichting → Koppelingen → API"


def _code(
    code: str, description: str, rate: Decimal | None, kind: InvoiceKind | None, cat: VatCategory | None
) -> VatCode:
    return VatCode(code=code, description=description, rate=rate, kind=kind, category=cat)


# The sheet's enum. `rate` None: the vendor does not compute VAT from the code (afwijkend, verlegd inkoop…).
_NL: tuple[VatCode, ...] = (
    _code("HOOG_VERK_21", "Verkoop hoog 21%", D(21), SALES, S),
    _code("LAAG_VERK_9", "Verkoop laag 9%", D(9), SALES, S),
    _code("LAAG_VERK", "Verkoop laag 6% (tot 2019)", D(6), SALES, S),
    _code("VERL_VERK", "Verkoop verlegd", D(0), SALES, AE),
    _code("VERL_VERK_L9", "Verkoop verlegd laag 9%", None, SALES, AE),
    _code("AFW_VERK", "Verkoop afwijkend btw-bedrag", None, SALES, None),
    _code("BU_EU_VERK", "Verkoop buiten de EU", D(0), SALES, G),
    _code("AFST_VERK", "Afstandsverkopen binnen de EU", None, SALES, None),
    _code("BI_EU_VERK_D", "Diensten binnen de EU", D(0), SALES, K),
    _code("HOOG_INK_21", "Inkoop hoog 21%", D(21), PURCHASE, S),
    _code("LAAG_INK_9", "Inkoop laag 9%", D(9), PURCHASE, S),
    _code("LAAG_INK", "Inkoop laag 6% (tot 2019)", D(6), PURCHASE, S),
    _code("VERL_INK", "Inkoop verlegd 21%", None, PURCHASE, AE),
    _code("VERL_INK_L9", "Inkoop verlegd laag 9%", None, PURCHASE, AE),
    _code("VERL_INK_L", "Inkoop verlegd laag 6% (tot 2019)", None, PURCHASE, AE),
    _code("AFW", "Inkoop afwijkend btw-bedrag", None, PURCHASE, None),
    _code("BU_EU_INK", "Inkoop buiten de EU", None, PURCHASE, G),
    _code("BI_EU_INK", "Inkoop binnen de EU", None, PURCHASE, K),
    _code("BI_EU_VERK", "Verwerving binnen de EU", None, PURCHASE, K),
    _code("GEEN", "Geen btw", D(0), None, Z),
)

_BE_RATES = (0, 6, 12, 21)
_BE: tuple[VatCode, ...] = (
    *(_code(f"BE_{r}_VERK", f"Verkoop {r}%", D(r), SALES, S if r else Z) for r in _BE_RATES),
    _code("BE_IC_D_VERK", "Intracommunautaire diensten", D(0), SALES, K),
    _code("BE_VERL_VERK", "Verkoop medecontractant (verlegd)", D(0), SALES, AE),
    _code("BE_IC_VERK", "Intracommunautaire levering", D(0), SALES, K),
    _code("BE_EXP_VERK", "Uitvoer", D(0), SALES, G),
    *(_code(f"BE_{r}_INK", f"Inkoop {r}%", D(r), PURCHASE, S if r else Z) for r in _BE_RATES),
    *(_code(f"BE_VERL_{r}_INK", f"Inkoop verlegd {r}%", None, PURCHASE, AE) for r in _BE_RATES),
    *(_code(f"BE_IC_D_{r}_INK", f"Intracommunautaire diensten {r}%", None, PURCHASE, K) for r in _BE_RATES),
    *(_code(f"BE_IC_{r}_INK", f"Intracommunautaire verwerving {r}%", None, PURCHASE, K) for r in _BE_RATES),
    *(_code(f"BE_IMP_{r}_INK", f"Invoer {r}%", None, PURCHASE, G) for r in _BE_RATES),
    _code("GEEN", "Geen btw", D(0), None, Z),
)

# SOAP: the REST NL list without VERL_INK_L, plus the old 19% codes.
_SOAP_NL: tuple[VatCode, ...] = (
    *(c for c in _NL if c.code != "VERL_INK_L"),
    _code("HOOG_VERK", "Verkoop hoog 19% (tot 2012)", D(19), SALES, S),
    _code("HOOG_INK", "Inkoop hoog 19% (tot 2012)", D(19), PURCHASE, S),
)


def vat_table(country: Country, *, soap: bool = False) -> tuple[VatCode, ...]:
    """The VAT codes an administration of `country` may use (no endpoint: a fixed enum)."""
    if country == "BE":
        return _BE
    return _SOAP_NL if soap else _NL


def default_vat_code(country: Country, kind: InvoiceKind, rate: Decimal, reverse_charge: bool) -> str | None:
    """The obvious code for a rate, offered as the mapping default; None when there is no obvious one."""
    r = rate.normalize()
    if country == "BE":
        whole = int(r) if r == r.to_integral_value() and int(r) in _BE_RATES else None
        if kind is SALES:
            if reverse_charge:
                return "BE_VERL_VERK"
            return f"BE_{whole}_VERK" if whole is not None else None
        if whole is None:
            return None
        return f"BE_VERL_{whole}_INK" if reverse_charge else f"BE_{whole}_INK"
    if kind is SALES:
        if reverse_charge:
            return "VERL_VERK"
        return {D(21): "HOOG_VERK_21", D(9): "LAAG_VERK_9", D(0): "GEEN"}.get(r)
    if reverse_charge:
        return {D(21): "VERL_INK", D(9): "VERL_INK_L9"}.get(r)
    return {D(21): "HOOG_INK_21", D(9): "LAAG_INK_9", D(0): "GEEN"}.get(r)


# --- VAT on a booking line ----------------------------------------------------------------------


@dataclass(frozen=True)
class VatRow:
    """A line as e-Boekhouden must receive it: the code to send and, when afwijkend, the exact VAT."""

    line: BookingLine
    vat_code: str
    vat_amount: Decimal | None  # only with AFW/AFW_VERK


AFWIJKEND = {SALES: "AFW_VERK", PURCHASE: "AFW"}


def vat_row(line: BookingLine, kind: InvoiceKind, country: Country, invoice_number: str) -> VatRow:
    """Choose the code so e-Boekhouden books exactly our VAT cents.

    e-Boekhouden computes VAT as round_half_up(net × rate) from the code; when the invoice's VAT differs
    (cents rounded per invoice, not per line) only the "afwijkend" code accepts an explicit amount.
    """
    known = {c.code: c for c in vat_table(country)}
    code = known.get(line.vat_code)
    if line.vat_code in AFWIJKEND.values():
        return VatRow(line, line.vat_code, line.vat_amount)
    if code is not None and code.rate is not None and code.rate != line.vat_rate:
        raise RejectedError(
            f"Boeking {invoice_number}: btw-code {line.vat_code} is {code.rate.normalize()}% maar de regel "
            f"heeft {line.vat_rate.normalize()}% btw",
            advice="Controleer de btw-code voor dit tarief in de mapping.",
            code="VAT_MAPPING",
            origin=Origin.MAPPING,
        )
    if vat_of(line.net_amount, line.vat_rate) == line.vat_amount:
        return VatRow(line, line.vat_code, None)
    if country == "BE":
        raise RejectedError(
            f"Boeking {invoice_number}: het btw-bedrag {line.vat_amount} wijkt af van "
            f"{line.vat_rate.normalize()}% van {line.net_amount}, en e-Boekhouden.be kent geen btw-code "
            "'afwijkend'",
            advice="Corrigeer de factuur in de bron (btw per regel afronden) of boek deze factuur handmatig.",
            code="VAT_CENTS_BE",
        )
    return VatRow(line, AFWIJKEND[kind], line.vat_amount)


COST_CENTER_ADVICE = "Kies de kostenplaats opnieuw onder Mapping."


def cost_center_id(line: BookingLine, invoice_number: str) -> int | None:
    """The line's kostenplaats as e-Boekhouden's numeric id; None books without one.

    The mapping stores the id that cost_centers() offered; anything else (typed by hand, or copied from
    another package) is refused here, per booking, rather than sent.
    """
    code = line.cost_center.strip()
    if not code:
        return None
    if code.isascii() and code.isdigit() and int(code) > 0:
        return int(code)
    raise RejectedError(
        f"Boeking {invoice_number}: kostenplaats {code!r} is geen kostenplaats van e-Boekhouden "
        "(daar is het een nummer)",
        advice=COST_CENTER_ADVICE,
        code="COST_CENTER",
        origin=Origin.MAPPING,
    )


# --- texts ----------------------------------------------------------------------------------------

DESCRIPTION_LIMIT = 200


def entry_description(entry: JournalEntry) -> str:
    """The entry text; with a foreign invoice the original amount and ECB rate (there is no currency field)."""
    base = entry.description or f"Factuur {entry.invoice_number}"
    if entry.foreign is None:
        return base[:DESCRIPTION_LIMIT]
    f = entry.foreign
    suffix = (
        f" (origineel {f.currency} {f.gross:.2f}, ECB-koers {f.rate.normalize()} {f.currency}/EUR "
        f"van {f.rate_date.isoformat()})"
    )
    return base[: max(0, DESCRIPTION_LIMIT - len(suffix))] + suffix


# --- vendor error codes ---------------------------------------------------------------------------

NEW_TOKEN_ADVICE = (
    f"Maak in e-Boekhouden onder {TOKEN_PATH} een nieuw API-token aan (het wordt één keer getoond) "
    "en vul het in bij de verbinding."
)
SOAP_LOGIN_ADVICE = (
    "Beveiligingscode 1 verandert wanneer het wachtwoord van e-Boekhouden wordt gewijzigd. Kopieer de "
    f"actuele Beveiligingscode 1 (en controleer gebruikersnaam en Beveiligingscode 2) uit {SETTINGS_PATH} "
    "en vul die opnieuw in bij de verbinding."
)
DOMAIN_ADVICE = (
    "Het API-token hoort bij het andere land: een token van e-Boekhouden.nl werkt niet op e-Boekhouden.be "
    "en omgekeerd. Kies in de verbinding het juiste land (NL of BE)."
)
CLOSED_PERIOD = (
    "De periode is afgesloten",
    "Vraag de boekhouder de periode te heropenen, of boek de factuur in een open periode.",
)

# code → (what it means, what to do); both in Dutch for the support person.
ERRORS: dict[str, tuple[str, str]] = {
    "API_SESSION_001": ("Bron (source) ontbreekt bij het openen van de sessie", "Meld dit bij Koppelaar."),
    "API_SESSION_002": ("Ongeldige bron (source) bij het openen van de sessie", "Meld dit bij Koppelaar."),
    "API_SESSION_003": ("Het API-token ontbreekt", NEW_TOKEN_ADVICE),
    "API_SESSION_004": ("Het API-token is ongeldig, ingetrokken of verlopen", NEW_TOKEN_ADVICE),
    "SECURITY_002": ("Er is geen administratie geopend in de sessie", "Controleer de gekozen administratie."),
    "SECURITY_005": (
        "De administratie is geblokkeerd wegens een openstaande betaling aan e-Boekhouden",
        "Betaal de openstaande factuur van e-Boekhouden; daarna werkt de koppeling weer.",
    ),
    "SECURITY_007": CLOSED_PERIOD,
    "SECURITY_008": CLOSED_PERIOD,
    "SECURITY_009": (
        "Klanttoegang staat niet aan voor deze administratie",
        "Zet in e-Boekhouden de toegang voor de koppeling (klanttoegang) aan.",
    ),
    "SECURITY_010": ("Niet (meer) aangemeld bij e-Boekhouden", NEW_TOKEN_ADVICE),
    "SECURITY_011": ("Het API-token is geregistreerd bij het andere land (NL/BE)", DOMAIN_ADVICE),
    "ERR_LOGIN": ("e-Boekhouden weigert gebruikersnaam of beveiligingscodes", SOAP_LOGIN_ADVICE),
    "ERR_SESSION": (
        "De sessie bij e-Boekhouden is verlopen",
        "Tijdelijk probleem: de koppeling meldt zich bij de volgende run opnieuw aan.",
    ),
    "PAGE_001": ("Ongeldige paginagrootte", "Meld dit bij Koppelaar."),
    "PAGE_002": ("Ongeldige offset", "Meld dit bij Koppelaar."),
    "MUT_002": ("Het factuurnummer ontbreekt", "Controleer het factuurnummer in de bron."),
    "MUT_005": CLOSED_PERIOD,
    "MUT_007": ("Onbekende grootboekrekening", "Controleer de tegenrekening in de mapping."),
    "MUT_012": ("De relatie ontbreekt", "Meld dit bij Koppelaar."),
    "MUT_013": ("De relatie bestaat niet (meer) in e-Boekhouden", "Controleer of de relatie is verwijderd."),
    "MUT_017": ("In/Ex moet IN of EX zijn", "Meld dit bij Koppelaar."),
    "MUT_019": ("Het factuurnummer bestaat al", "Controleer of deze factuur al geboekt is."),
    "MUT_020": (
        "Deze relatie heeft al een boeking met dit factuurnummer",
        "Controleer de bestaande boeking.",
    ),
    "MUT_026": ("Verlegde inkoop moet exclusief btw worden geboekt", "Meld dit bij Koppelaar."),
    "MUT_100": ("De boeking heeft geen regels", "Controleer de factuur in de bron."),
    "MUT_101": ("De boeking heeft te veel regels", "Boek deze factuur handmatig of voeg regels samen."),
    "MUT_109": ("Ongeldige btw-code", "Controleer de btw-code in de mapping."),
    "MUT_110": ("Deze btw-code is geen inkoopcode", "Kies in de mapping een btw-code voor inkoop."),
    "MUT_111": ("Deze btw-code is geen verkoopcode", "Kies in de mapping een btw-code voor verkoop."),
    "MUT_113": ("De kostenplaats bestaat niet (meer) in e-Boekhouden", COST_CENTER_ADVICE),
    "MUT_118": ("De boeking is niet in balans", "Controleer de bedragen van de factuur in de bron."),
    "MUTA_003": ("Een afwijkend btw-bedrag mag niet met deze btw-code", "Meld dit bij Koppelaar."),
    "MUTA_008": ("Het betalingskenmerk bestaat al", "Controleer of deze factuur al geboekt is."),
    "REL_008": (
        "Het KvK-nummer moet uit cijfers bestaan",
        "Corrigeer het KvK-nummer van de klant in de bron.",
    ),
    "REL_049": ("De relatiecode bestaat al", "Meld dit bij Koppelaar."),
    "REL_056": ("Ongeldig Peppol-ID bij de relatie", "Corrigeer het Peppol-ID van de relatie."),
    "REL_057": ("Ongeldig Peppol-ID bij de relatie", "Corrigeer het Peppol-ID van de relatie."),
}

AUTH_CODES = frozenset(
    {"API_SESSION_003", "API_SESSION_004", "SECURITY_009", "SECURITY_010", "SECURITY_011", "ERR_LOGIN"}
)
DUPLICATE_CODES = frozenset({"MUT_019", "MUT_020"})
# Refusals the mapping can fix (tegenrekening, btw-code, kostenplaats).
MAPPING_CODES = frozenset({"MUT_007", "MUT_109", "MUT_110", "MUT_111", "MUT_113"})


def explain(code: str, vendor_message: str) -> tuple[str, str]:
    """(message, advice) for a vendor error: our Dutch meaning, the vendor's own words kept."""
    meaning, advice = ERRORS.get(code, ("e-Boekhouden weigert het verzoek", ""))
    message = f"{meaning} ({code}: {vendor_message})" if vendor_message else f"{meaning} ({code})"
    return message, advice or "Bekijk de melding van e-Boekhouden en pas de gegevens aan."


# A tegenrekening carries revenue or costs: the winst-en-verliesrekening (category VW), as Exact (W) and
# Twinfield (PNL) allow. Rows of invoice mutations may not book on FIN/CRED/DEB at all (vendor doc: types
# 1, 2, 5, 6), and a balance account (BAL: 0100 Inventaris, 1500 BTW) is no place for an invoice's revenue.
TEGENREKENING_CATEGORY = "VW"
