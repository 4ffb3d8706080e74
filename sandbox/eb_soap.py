"""e-Boekhouden legacy SOAP 1.1 front end (``POST /soap.asmx``).

Business errors are HTTP 200 with ``ErrorMsg/LastErrorCode``; protocol errors (missing or wrong
SOAPAction, unparsable envelope, unknown operation) are SOAP Faults with HTTP 500, as ASMX does.
"""

from __future__ import annotations

import re
import secrets
import xml.etree.ElementTree as ET
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from sandbox._util import round_cents
from sandbox.eb_store import (
    AFW_CODES,
    SOAP_VAT,
    SOORT_TO_TYPE,
    TYPE_TO_SOORT,
    Administration,
    BookError,
    Mutation,
    parse_amount,
)

if TYPE_CHECKING:
    from sandbox.eboekhouden import EBoekhoudenSim, Session

NS = "http://www.e-boekhouden.nl/soap"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
ACTION_PREFIX = f"{NS}/"
MAX_MUTATIES = 500
OPERATIONS = (
    "OpenSession",
    "CloseSession",
    "GetAdministraties",
    "GetGrootboekrekeningen",
    "GetKostenplaatsen",
    "GetRelaties",
    "AddRelatie",
    "GetMutaties",
    "AddMutatie",
)
LOGIN_ERROR = ("ERR_LOGIN", "Gebruikersnaam of beveiligingscodes onjuist")
SESSION_ERROR = ("ERR_SESSION", "SessionID onbekend of verlopen")

_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>'
)
_TAIL = "</soap:Body></soap:Envelope>"


def _xml(body: str, status: int = 200) -> Response:
    return Response((_HEAD + body + _TAIL).encode("utf-8"), status, media_type="text/xml; charset=utf-8")


def soap_fault(message: str, code: str = "soap:Server", status: int = 500) -> Response:
    return _xml(
        f"<soap:Fault><faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring><detail /></soap:Fault>",
        status,
    )


def _e(tag: str, value: object) -> str:
    if value is None or value == "":
        return f"<{tag} />"
    if isinstance(value, Decimal):
        value = format(value, "f")
    return f"<{tag}>{escape(str(value))}</{tag}>"


def _error_msg(code: str = "", description: str = "") -> str:
    return f"<ErrorMsg>{_e('LastErrorCode', code)}{_e('LastErrorDescription', description)}</ErrorMsg>"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element | None, name: str) -> ET.Element | None:
    if el is None:
        return None
    return next((c for c in el if _local(c.tag) == name), None)


def _text(el: ET.Element | None, name: str) -> str:
    child = _child(el, name)
    return (child.text or "").strip() if child is not None else ""


class _UnreadableRequest(Exception):
    """A value the WSDL's type does not admit: ASP.NET's XmlSerializer refuses the whole request."""


class _SoapError(Exception):
    def __init__(self, code: str, description: str) -> None:
        super().__init__(code)
        self.code, self.description = code, description


class SoapHandler:
    """Dispatches SOAP operations against the simulator's shared store."""

    def __init__(self, sim: EBoekhoudenSim) -> None:
        self.sim = sim

    async def endpoint(self, request: Request) -> Response:
        ctype = request.headers.get("content-type", "")
        if not ctype.lower().startswith("text/xml"):
            return Response("Unsupported Media Type: SOAP 1.1 needs text/xml", 415, media_type="text/plain")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.sim.max_soap_body:
            return Response("Request Entity Too Large", 413, media_type="text/plain")
        body = b""
        async for chunk in request.stream():  # cap while reading: never buffer an unbounded body
            body += chunk
            if len(body) > self.sim.max_soap_body:
                return Response("Request Entity Too Large", 413, media_type="text/plain")
        raw_action = request.headers.get("soapaction")
        action = (raw_action or "").strip().strip('"')
        if not action.startswith(ACTION_PREFIX) or action[len(ACTION_PREFIX) :] not in OPERATIONS:
            return soap_fault(
                f"Server did not recognize the value of HTTP Header SOAPAction: {action}.", "soap:Client"
            )
        op = action[len(ACTION_PREFIX) :]
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:  # no DTDs: entity expansion guard
            return soap_fault("DTD is prohibited in this XML document.", "soap:Client")
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            return soap_fault(f"Server was unable to read request. ---> {exc}", "soap:Client")
        if root.tag != f"{{{SOAP_ENV}}}Envelope":
            return soap_fault(
                "Possible SOAP version mismatch: Envelope namespaces are not SOAP 1.1.",
                "soap:VersionMismatch",
            )
        soap_body = _child(root, "Body")
        call = soap_body[0] if soap_body is not None and len(soap_body) else None
        if call is None or call.tag != f"{{{NS}}}{op}":
            return soap_fault(f"The body element does not match SOAPAction {op}.", "soap:Client")
        handler = getattr(self, f"op_{op}")
        with self.sim.lock:
            try:
                inner: str = handler(call)
                result = _error_msg() + inner
            except _UnreadableRequest as e:
                return soap_fault(f"Server was unable to read request. ---> {e}", "soap:Client")
            except _SoapError as e:
                result = _error_msg(e.code, e.description)
            except BookError as e:
                result = _error_msg(e.code, e.message)
        return _xml(f'<{op}Response xmlns="{NS}"><{op}Result>{result}</{op}Result></{op}Response>')

    # --- session
    def _session(self, call: ET.Element) -> tuple[Session, Administration]:
        sim = self.sim
        sid = _text(call, "SessionID")
        session = sim.sessions.get(sid) if sid else None
        if session is None or session.username is None or session.expires_at <= sim.clock():
            raise _SoapError(*SESSION_ERROR)
        user = sim.soap_users.get(session.username)
        if user is None or _text(call, "SecurityCode2") != user.code2:
            raise _SoapError(*LOGIN_ERROR)
        return session, sim.administrations[session.administration_id]

    def op_OpenSession(self, call: ET.Element) -> str:
        from sandbox.eboekhouden import Session

        sim = self.sim
        user = sim.soap_users.get(_text(call, "Username"))
        if (
            user is None
            or _text(call, "SecurityCode1") != user.code1
            or _text(call, "SecurityCode2") != user.code2
        ):
            raise _SoapError(*LOGIN_ERROR)
        session = Session(
            secrets.token_hex(16).upper(),
            user.administration_id,
            sim.clock() + sim.session_ttl,
            username=user.username,
        )
        sim.sessions[session.token] = session
        return _e("SessionID", session.token)

    def op_CloseSession(self, call: ET.Element) -> str:
        self.sim.sessions.pop(_text(call, "SessionID"), None)
        return ""

    def op_GetAdministraties(self, call: ET.Element) -> str:
        _, admin = self._session(call)
        items = "".join(
            f"<cAdministratie>{_e('Bedrijf', a.company)}{_e('Plaats', a.city)}{_e('Guid', a.guid)}"
            f"{_e('StartBoekjaar', 2020)}</cAdministratie>"
            for a in self.sim.administrations.values()
            if a.id == admin.id or a.country == admin.country
        )
        return f"<Administraties>{items}</Administraties>"

    def op_GetGrootboekrekeningen(self, call: ET.Element) -> str:
        _, admin = self._session(call)
        flt = _child(call, "cFilter")
        want_id, want_code, want_cat = _text(flt, "ID"), _text(flt, "Code"), _text(flt, "Categorie")
        items = []
        for lg in sorted(admin.ledgers.values(), key=lambda x: x.code):
            if want_id not in ("", "0") and str(lg.id) != want_id:
                continue
            if want_code and lg.code != want_code:
                continue
            if want_cat and lg.category != want_cat:
                continue
            items.append(
                f"<cGrootboekrekening>{_e('ID', lg.id)}{_e('Code', lg.code)}{_e('Omschrijving', lg.description)}"
                f"{_e('Categorie', lg.category)}{_e('Groep', lg.group)}</cGrootboekrekening>"
            )
        return f"<Rekeningen>{''.join(items)}</Rekeningen>"

    def op_GetKostenplaatsen(self, call: ET.Element) -> str:
        _, admin = self._session(call)
        flt = _child(call, "cFilter")
        # The filter spells the ids "ID", the answer "Id" (as the vendor's WSDL does); 0/empty = unset.
        want_id, want_parent = _text(flt, "KostenplaatsID"), _text(flt, "KostenplaatsParentID")
        word = _text(flt, "Omschrijving").lower()
        items = []
        for cc in sorted(admin.cost_centers.values(), key=lambda x: x.id):
            if not cc.active:  # cKostenplaats has no field to say so: SOAP lists active ones only
                continue
            if want_id not in ("", "0") and str(cc.id) != want_id:
                continue
            if want_parent not in ("", "0") and str(cc.parent_id) != want_parent:
                continue
            if word and word not in cc.description.lower():
                continue
            items.append(
                f"<cKostenplaats>{_e('KostenplaatsId', cc.id)}{_e('Omschrijving', cc.description)}"
                f"{_e('KostenplaatsParentId', cc.parent_id)}</cKostenplaats>"
            )
        return f"<Kostenplaatsen>{''.join(items)}</Kostenplaatsen>"

    def op_GetRelaties(self, call: ET.Element) -> str:
        _, admin = self._session(call)
        flt = _child(call, "cFilter")
        code, rid, word = _text(flt, "Code"), _text(flt, "ID"), _text(flt, "Trefwoord").lower()
        items = []
        for r in sorted(admin.relations.values(), key=lambda x: x.id):
            if code and r.code != code:
                continue
            if rid not in ("", "0") and str(r.id) != rid:
                continue
            if word and word not in f"{r.code} {r.name}".lower():
                continue
            items.append(
                f"<cRelatie>{_e('ID', r.id)}{_e('Code', r.code)}{_e('Bedrijf', r.name)}"
                f"{_e('Contactpersoon', r.contact)}{_e('Adres', r.address)}{_e('Postcode', r.postal_code)}"
                f"{_e('Plaats', r.city)}{_e('Land', r.country)}{_e('Email', r.email)}{_e('BTWNummer', r.vat_number)}"
                f"{_e('KvkNummer', r.coc_number)}{_e('IBAN', r.iban)}{_e('BP', r.type)}</cRelatie>"
            )
        return f"<Relaties>{''.join(items)}</Relaties>"

    def op_AddRelatie(self, call: ET.Element) -> str:
        _, admin = self._session(call)
        rel = _child(call, "oRel")
        if rel is None:
            raise _SoapError("REL_001", "oRel ontbreekt")
        created = admin.add_relation(
            _text(rel, "Code"),
            _text(rel, "Bedrijf"),
            type=_text(rel, "BP") or "B",
            contact=_text(rel, "Contactpersoon"),
            address=_text(rel, "Adres"),
            postal_code=_text(rel, "Postcode"),
            city=_text(rel, "Plaats"),
            country=_text(rel, "Land") or "NL",
            email=_text(rel, "Email"),
            vat_number=_text(rel, "BTWNummer"),
            coc_number=_text(rel, "KvkNummer"),
            iban=_text(rel, "IBAN"),
        )
        return _e("Rel_ID", created.id)

    def op_GetMutaties(self, call: ET.Element) -> str:
        _, admin = self._session(call)
        flt = _child(call, "cFilter")
        nr = _long(flt, "MutatieNr")
        lo, hi = _long(flt, "MutatieNrVan"), _long(flt, "MutatieNrTm")
        invoice = _text(flt, "Factuurnummer")
        dlo, dhi = _text(flt, "DatumVan")[:10], _text(flt, "DatumTm")[:10]
        found = [
            m
            for m in admin.mutations
            if (not nr or m.id == nr)
            and (not lo or m.id >= lo)
            and (not hi or m.id <= hi)
            and (not invoice or m.invoice_number == invoice)
            and (not dlo or m.date >= dlo)
            and (not dhi or m.date <= dhi)
        ]
        # Like the vendor: at most the 500 most recent, newest first.
        found = sorted(found, key=lambda m: m.id, reverse=True)[:MAX_MUTATIES]
        return f"<Mutaties>{''.join(self._mutatie(admin, m) for m in found)}</Mutaties>"

    @staticmethod
    def _mutatie(admin: Administration, m: Mutation) -> str:
        header = admin.ledgers.get(m.ledger_id)
        relation = admin.relations.get(m.relation_id) if m.relation_id is not None else None
        rows = []
        for r in m.rows:
            ex = r.amount - r.vat_amount if m.in_ex_vat == "IN" else r.amount
            pct = "0" if not ex else format(round_cents(r.vat_amount * 100 / ex), "f")
            ledger = admin.ledgers.get(r.ledger_id)
            rows.append(
                f"<cMutatieListRegel>{_e('BedragInvoer', r.amount)}{_e('BedragExclBTW', ex)}"
                f"{_e('BedragBTW', r.vat_amount)}{_e('BedragInclBTW', ex + r.vat_amount)}{_e('BTWCode', r.vat_code)}"
                f"{_e('BTWPercentage', pct)}{_e('Factuurnummer', r.invoice_number or m.invoice_number)}"
                f"{_e('TegenrekeningCode', ledger.code if ledger else '')}{_e('KostenplaatsID', r.cost_center_id or 0)}"
                "</cMutatieListRegel>"
            )
        return (
            f"<cMutatieList>{_e('MutatieNr', m.id)}{_e('Soort', TYPE_TO_SOORT[m.type])}"
            f"{_e('Datum', m.date + 'T00:00:00')}{_e('Rekening', header.code if header else '')}"
            f"{_e('RelatieCode', relation.code if relation else '')}{_e('Factuurnummer', m.invoice_number)}"
            f"{_e('Boekstuk', m.entry_number)}{_e('Omschrijving', m.description)}"
            f"{_e('Betalingstermijn', m.term_of_payment)}{_e('Betalingskenmerk', m.payment_reference)}"
            f"{_e('InExBTW', m.in_ex_vat)}<MutatieRegels>{''.join(rows)}</MutatieRegels></cMutatieList>"
        )

    def op_AddMutatie(self, call: ET.Element) -> str:
        _, admin = self._session(call)
        mut = _child(call, "oMut")
        if mut is None:
            raise _SoapError("MUT_000", "oMut ontbreekt")
        soort = _text(mut, "Soort")
        if soort not in SOORT_TO_TYPE:
            raise BookError("MUT_001", f"Soort '{soort}' wordt niet ondersteund")
        mtype = SOORT_TO_TYPE[soort]
        header = admin.ledger_by_code(_text(mut, "Rekening"))
        if header is None:
            raise BookError("MUT_007", f"Rekening '{_text(mut, 'Rekening')}' bestaat niet")
        rel_code = _text(mut, "RelatieCode")
        relation = admin.relation_by_code(rel_code) if rel_code else None
        if rel_code and relation is None:
            raise BookError("MUT_013", f"Relatie '{rel_code}' bestaat niet")
        in_ex = _text(mut, "InExBTW")
        mdate = _text(mut, "Datum")[:10]
        invoice = _text(mut, "Factuurnummer")
        rows: list[dict[str, Any]] = []
        regels = _child(mut, "MutatieRegels")
        for i, regel in enumerate(list(regels) if regels is not None else []):
            rows.append(self._row(admin, i, regel, in_ex, mdate, invoice if mtype in (3, 4) else ""))
        spec = {
            "type": mtype,
            "date": mdate,
            "ledgerId": header.id,
            "relationId": relation.id if relation else None,
            "invoiceNumber": invoice,
            "entryNumber": _text(mut, "Boekstuk"),
            "description": _text(mut, "Omschrijving"),
            "termOfPayment": _text(mut, "Betalingstermijn") or 0,
            "paymentReference": _text(mut, "Betalingskenmerk"),
            "inExVat": in_ex,
            "rows": rows,
        }
        booked = admin.book(spec, via="soap", vat_table=SOAP_VAT)
        return _e("Mutatienummer", booked.id)

    @staticmethod
    def _row(
        admin: Administration, i: int, regel: ET.Element, in_ex: str, mdate: str, invoice: str
    ) -> dict[str, Any]:
        code = _text(regel, "TegenrekeningCode")
        ledger = admin.ledger_by_code(code)
        if ledger is None:
            raise BookError("MUT_007", f"Tegenrekening '{code}' bestaat niet (regel {i + 1})")
        vat_code = _text(regel, "BTWCode") or "GEEN"
        try:
            invoer = _text(regel, "BedragInvoer")
            fallback = _text(regel, "BedragInclBTW" if in_ex == "IN" else "BedragExclBTW")
            amount = parse_amount(invoer or fallback)
        except (InvalidOperation, ValueError):
            raise BookError("MUT_104", f"Bedrag ontbreekt of is ongeldig (regel {i + 1})") from None
        row: dict[str, Any] = {
            "ledgerId": ledger.id,
            "vatCode": vat_code,
            "amount": amount,
            "invoiceNumber": invoice,
        }
        # An s:long; 0 or absent books without a cost centre. The store refuses an unknown id.
        kostenplaats = _text(regel, "KostenplaatsID")
        if kostenplaats:
            row["costCenterId"] = (
                int(kostenplaats) if kostenplaats.isascii() and kostenplaats.isdigit() else kostenplaats
            )
        # SOAP lets the caller send BedragBTW. When it differs from what the code's rate gives, the
        # vendor books the row as "Afwijkend" (AFW/AFW_VERK) with the given amount (sheet pitfall #1).
        given_text = _text(regel, "BedragBTW")
        kind, known_rate = SOAP_VAT.get(vat_code, ("", None))
        if given_text and known_rate is not None:
            rate = known_rate
            if vat_code == "LAAG_VERK" and mdate >= "2019-01-01":
                rate = Decimal(9)
            try:
                given = parse_amount(given_text)
            except (InvalidOperation, ValueError):
                raise BookError("MUT_104", f"BedragBTW is ongeldig (regel {i + 1})") from None
            computed = round_cents(amount * rate / 100 if in_ex != "IN" else amount * rate / (100 + rate))
            if given != computed:
                row["vatCode"] = "AFW_VERK" if kind == "sales" else "AFW"
                row["vatAmount"] = given
        elif given_text and vat_code in AFW_CODES:
            row["vatAmount"] = given_text
        return row


def _long(el: ET.Element | None, name: str) -> int:
    """An `xs:long` filter field: left out means 0, but present must be a number (empty is not)."""
    child = _child(el, name)
    if child is None:
        return 0
    text = (child.text or "").strip()
    if not re.fullmatch(r"[+-]?\d{1,18}", text):
        raise _UnreadableRequest(
            f"There is an error in XML document. ---> Input string '{text}' for {name} was not in a "
            "correct format (xs:long)."
        )
    return int(text)
