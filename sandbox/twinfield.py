"""Twinfield simulator: the login host (OAuth2/OIDC) and the clusters' SOAP services on one app.

- ``/auth/authentication/connect/{authorize,token,accesstokenvalidation}``: consent is automatic
  for ``sim.consent_user``; a nonce is required; no password/client-credentials grant
  (``unauthorized_client``); refresh tokens do not rotate; access tokens live an hour.
- ``/{cluster}/webservices/processxml.asmx`` (ProcessXmlString) and ``/{cluster}/webservices/finder.asmx``
  (Search): ``AccessToken`` + ``CompanyCode`` SOAP headers; auth problems are SOAP Faults (HTTP 500,
  faultcode ``soap:Client``); business errors are HTTP 200 with ``result="0"`` and
  ``msgtype``/``msg`` on the element that failed. Organisations live on ``accounting`` or
  ``accounting2``; ``twf.clusterUrl`` says which.
- Fair use: credits per minute per ClientId (1 for list/read/columns/Search, 3 otherwise), one request
  in flight per organisation; beyond either → 429 with ``Retry-After``, nothing processed.
- ``utf16_roots``: ProcessXml requests with these root elements are answered in UTF-16LE with a BOM.
- Finder ``TRS`` (daybooks) takes the ``category`` option (sales, purchase or journal); a detail line's
  ``dim2`` must be a ``KPL`` dimension (kostenplaats) of the office, else that transaction fails.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import secrets
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, urlencode
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from sandbox._util import Clock
from sandbox.base import ASGIApp, Scope, SimBase, json_response

NS = "http://www.twinfield.com/"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
CONNECT = "/auth/authentication/connect"
CLUSTERS = ("accounting", "accounting2")
ACCESS_TTL = 3600
CODE_TTL = 180
MAX_LINES = 1000
MAX_CHILDREN = 25
DESCRIPTION_LIMIT = 40
CENT = Decimal("0.01")
VAT_ACCOUNT = "1500"  # the balance account every sandbox VAT code books on
QUERY_ROOTS = frozenset({"list", "read", "columns", "accountcode", "accountcodes"})
TOKEN_INVALID = "Access denied. Token invalid (code 354)."
NO_COMPANY = "Toegang geweigerd. Company ontbreekt in request header."


@dataclass
class Client:
    client_id: str
    secret: str
    redirect_uris: tuple[str, ...]


@dataclass
class Grant:
    client_id: str
    organisation: str
    user: str
    scopes: tuple[str, ...]
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    grant: Grant
    expires_at: float
    claims: dict[str, Any]


@dataclass
class Dimension:
    code: str
    type: str
    name: str
    shortname: str = ""
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class Vat:
    code: str
    name: str
    type: str  # sales | purchase
    percentages: tuple[tuple[str, Decimal], ...]  # (YYYYMMDD, pct) ascending

    def on(self, day: str) -> Decimal | None:
        valid = [p for since, p in self.percentages if since <= day]
        return valid[-1] if valid else None


@dataclass
class Line:
    id: str
    type: str
    dim1: str
    dim2: str
    debitcredit: str
    value: Decimal
    description: str = ""
    vatcode: str = ""
    generated: bool = False

    @property
    def signed(self) -> Decimal:
        return self.value if self.debitcredit == "debit" else -self.value


@dataclass
class Transaction:
    office: str
    code: str
    number: str
    status: str
    date: str
    period: str
    invoicenumber: str
    lines: list[Line]


@dataclass
class Office:
    code: str
    name: str
    shortname: str
    dimensions: dict[str, dict[str, Dimension]] = field(default_factory=dict)
    vat: dict[str, Vat] = field(default_factory=dict)
    # code → (name, category): sales | purchase | journal, the TRS finder's `category` values
    daybooks: dict[str, tuple[str, str]] = field(default_factory=dict)
    transactions: list[Transaction] = field(default_factory=list)
    closed_until: str = ""  # YYYY/MM: periods up to and including this are closed

    def dimension(self, dimtype: str, code: str) -> Dimension | None:
        return self.dimensions.get(dimtype, {}).get(code)

    def add_dimension(self, dimtype: str, code: str, name: str, **kw: Any) -> Dimension:
        dim = Dimension(code, dimtype, name, **kw)
        self.dimensions.setdefault(dimtype, {})[code] = dim
        return dim


@dataclass
class Organisation:
    code: str
    id: str
    cluster: str
    offices: dict[str, Office] = field(default_factory=dict)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _half_even(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _el(tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.Element(tag, attrs)
    node.text = text
    return node


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrs)
    node.text = text
    return node


def _t(node: ET.Element | None, name: str) -> str:
    if node is None:
        return ""
    found = node.find(name)
    return (found.text or "").strip() if found is not None else ""


def _fail(node: ET.Element, msg: str, kind: str = "error") -> None:
    """Mark `node` as failed with a vendor message; several messages are joined with //."""
    old = node.get("msg")
    node.set("msg", f"{old}//{msg}" if old else msg)
    node.set("msgtype", kind)
    if kind == "error":
        node.set("result", "0")


def _at(parent: ET.Element, name: str, fallback: ET.Element) -> ET.Element:
    """The element a message belongs on: the named child when present, else `fallback`.

    (Never ``find(...) or fallback``: an element without children is falsy.)
    """
    found = parent.find(name)
    return found if found is not None else fallback


def _search_error(text: str, code: str) -> str:
    message = (
        f"<MessageOfErrorCodes><Type>Error</Type><Text>{escape(text)}</Text><Code>{code}</Code>"
        "</MessageOfErrorCodes>"
    )
    return f'<SearchResponse xmlns="{NS}"><SearchResult>{message}</SearchResult></SearchResponse>'


def _soap_body(inner: str) -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP_ENV}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f"<soap:Body>{inner}</soap:Body></soap:Envelope>"
    )


def soap_fault(message: str, code: str = "soap:Client") -> Response:
    body = (
        f"<soap:Fault><faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring></soap:Fault>"
    )
    return Response(_soap_body(body).encode("utf-8"), 500, media_type="text/xml; charset=utf-8")


class _Fault(Exception):
    def __init__(self, message: str, code: str = "soap:Client") -> None:
        super().__init__(message)
        self.message, self.code = message, code


class TwinfieldSim(SimBase):
    """One Twinfield: clients (apps), organisations on clusters, offices with their bookkeeping."""

    name = "twinfield"

    def __init__(
        self,
        *,
        credits_per_minute: int = 1000,
        processing_seconds: float = 0.0,
        consent_user: str = "BEHEERDER",
        clock: Clock | None = None,
    ) -> None:
        self.credits_per_minute = credits_per_minute
        self.processing_seconds = processing_seconds
        self.consent_user = consent_user
        self.consent_organisation = ""
        self.clients: dict[str, Client] = {}
        self.organisations: dict[str, Organisation] = {}
        self.codes: dict[str, tuple[Grant, str, float]] = {}  # code → (grant, redirect_uri, expires)
        self.refresh_tokens: dict[str, Grant] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.utf16_roots: set[str] = set()
        self.credits_used: dict[tuple[str, int], int] = {}
        self._inflight: dict[str, int] = {}
        self.refused_concurrent = 0
        super().__init__(clock)

    # --- seeding and inspection ------------------------------------------------------------------

    def add_client(self, client_id: str, secret: str, redirect_uri: str) -> Client:
        with self.lock:
            client = Client(client_id, secret, (redirect_uri,))
            self.clients[client_id] = client
            return client

    def add_organisation(self, code: str, *, cluster: str = "accounting") -> Organisation:
        if cluster not in CLUSTERS:
            raise ValueError(f"cluster must be one of {CLUSTERS}")
        with self.lock:
            org = Organisation(code, str(uuid.uuid4()), cluster)
            self.organisations[code] = org
            if not self.consent_organisation:
                self.consent_organisation = code
            return org

    def add_office(self, organisation: str, code: str, name: str, *, standard: bool = True) -> Office:
        """An office; `standard` gives it a Dutch chart of accounts, VAT codes and daybooks."""
        with self.lock:
            office = Office(code, name, name.split()[0])
            self.organisations[organisation].offices[code] = office
            if standard:
                for dimtype, accounts in {
                    "BAS": {"1300": "Debiteuren", "1600": "Crediteuren", "1500": "Te betalen btw"},
                    "PNL": {
                        "4000": "Inkopen",
                        "8000": "Omzet hoog",
                        "8010": "Omzet laag",
                        "8100": "Omzet advies",
                    },
                    "KPL": {"100": "Winkel", "200": "Bezorging", "300": "Productie", "400": "Horeca"},
                }.items():
                    for account, label in accounts.items():
                        office.add_dimension(dimtype, account, label)
                for vat in (
                    Vat("VH", "BTW hoog", "sales", (("19000101", Decimal(19)), ("20121001", Decimal(21)))),
                    Vat("VL", "BTW laag", "sales", (("19000101", Decimal(6)), ("20190101", Decimal(9)))),
                    Vat("VN", "BTW nul", "sales", (("19000101", Decimal(0)),)),
                    Vat(
                        "IH",
                        "BTW inkoop hoog",
                        "purchase",
                        (("19000101", Decimal(19)), ("20121001", Decimal(21))),
                    ),
                    Vat(
                        "IL",
                        "BTW inkoop laag",
                        "purchase",
                        (("19000101", Decimal(6)), ("20190101", Decimal(9))),
                    ),
                    Vat("IN", "BTW inkoop nul", "purchase", (("19000101", Decimal(0)),)),
                ):
                    office.vat[vat.code] = vat
                office.daybooks = {
                    "VRK": ("Verkoopboek", "sales"),
                    "INK": ("Inkoopboek", "purchase"),
                    "MEMO": ("Memoriaal", "journal"),
                }
            return office

    def transactions(self, organisation: str = "", office: str = "") -> list[Transaction]:
        with self.lock:
            org = self.organisations[organisation or self.consent_organisation]
            chosen = org.offices[office] if office else next(iter(org.offices.values()))
            return list(chosen.transactions)

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def revoke(self, refresh_token: str) -> None:
        with self.lock:
            self.refresh_tokens[refresh_token].revoked = True

    def issue_refresh_token(
        self, client_id: str, *, scopes: tuple[str, ...] | None = None, organisation: str = ""
    ) -> str:
        """A refresh token as an earlier consent would have left it (tests skip the browser)."""
        with self.lock:
            grant = Grant(
                client_id,
                organisation or self.consent_organisation,
                self.consent_user,
                scopes
                or ("openid", "offline_access", "twf.user", "twf.organisation", "twf.organisationUser"),
            )
            token = secrets.token_urlsafe(32)
            self.refresh_tokens[token] = grant
            return token

    # --- app ------------------------------------------------------------------------------------

    def build_app(self) -> ASGIApp:
        routes = [
            Route(f"{CONNECT}/authorize", self._authorize, methods=["GET"]),
            Route(f"{CONNECT}/token", self._token, methods=["POST"]),
            Route(f"{CONNECT}/accesstokenvalidation", self._validation, methods=["GET"]),
            Route("/{cluster}/webservices/processxml.asmx", self._processxml, methods=["POST"]),
            Route("/{cluster}/webservices/finder.asmx", self._finder, methods=["POST"]),
        ]
        return Starlette(routes=routes)

    def soap_action(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers", []):
            if name == b"soapaction":
                action: str = value.decode("latin-1")
                return action.strip('"').rsplit("/", 1)[-1]
        return None

    def error_response(self, status: int, retry_after: int, scope: Scope) -> Response:
        headers = {"Retry-After": str(retry_after)} if status == 429 else None
        return Response(f"HTTP {status}", status, headers=headers, media_type="text/plain")

    def state_summary(self) -> dict[str, Any]:
        return {
            "organisations": {
                code: {o.code: len(o.transactions) for o in org.offices.values()}
                for code, org in self.organisations.items()
            }
        }

    # --- OAuth / OIDC ----------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        with self.lock:
            client = self.clients.get(q.get("client_id", ""))
            redirect = q.get("redirect_uri", "")
            if client is None or redirect not in client.redirect_uris:
                return json_response({"error": "invalid_request", "error_description": "unknown client"}, 400)
            state = q.get("state", "")
            if q.get("response_type") != "code" or not q.get("nonce"):
                params = {"error": "invalid_request", "error_description": "nonce and code flow required"}
                return RedirectResponse(f"{redirect}?{urlencode({**params, 'state': state})}", 302)
            scopes = tuple(q.get("scope", "").split())
            if "twf.organisationUser" not in scopes:
                return RedirectResponse(
                    f"{redirect}?{urlencode({'error': 'invalid_scope', 'state': state})}", 302
                )
            code = secrets.token_urlsafe(24)
            grant = Grant(client.client_id, self.consent_organisation, self.consent_user, scopes)
            self.codes[code] = (grant, redirect, self.clock() + CODE_TTL)
            return RedirectResponse(f"{redirect}?{urlencode({'code': code, 'state': state})}", 302)

    def _client_of(self, request: Request) -> Client | None:
        raw = request.headers.get("authorization", "")
        if not raw.lower().startswith("basic "):
            return None
        try:
            cid, _, secret = base64.b64decode(raw[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        client = self.clients.get(cid)
        return client if client is not None and secrets.compare_digest(client.secret, secret) else None

    async def _token(self, request: Request) -> Response:
        # Parsed by hand: starlette's form parser needs python-multipart, which we do not install.
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8")).items()}
        with self.lock:
            client = self._client_of(request)
            if client is None:
                return json_response({"error": "invalid_client"}, 401)
            grant_type = str(form.get("grant_type", ""))
            refresh: str | None = None
            if grant_type == "authorization_code":
                found = self.codes.pop(str(form.get("code", "")), None)
                if found is None or found[2] < self.clock() or found[0].client_id != client.client_id:
                    return json_response({"error": "invalid_grant"}, 400)
                grant, redirect, _ = found
                if str(form.get("redirect_uri", "")) != redirect:
                    return json_response({"error": "invalid_grant"}, 400)
                if "offline_access" in grant.scopes:
                    refresh = secrets.token_urlsafe(32)
                    self.refresh_tokens[refresh] = grant
            elif grant_type == "refresh_token":
                refresh = str(form.get("refresh_token", ""))
                grant_or_none = self.refresh_tokens.get(refresh)
                if (
                    grant_or_none is None
                    or grant_or_none.revoked
                    or grant_or_none.client_id != client.client_id
                ):
                    return json_response({"error": "invalid_grant"}, 400)
                grant = grant_or_none  # Twinfield does not rotate refresh tokens
            elif grant_type in ("password", "client_credentials"):
                return json_response({"error": "unauthorized_client"}, 400)
            else:
                return json_response({"error": "unsupported_grant_type"}, 400)
            access = self._issue_access(grant, str(request.base_url).rstrip("/"))
            body: dict[str, Any] = {
                "access_token": access.token,
                "expires_in": ACCESS_TTL,
                "token_type": "Bearer",
            }
            if refresh is not None:
                body["refresh_token"] = refresh
            return json_response(body)

    def _issue_access(self, grant: Grant, base: str) -> AccessToken:
        org = self.organisations[grant.organisation]
        now = self.clock()
        claims: dict[str, Any] = {
            "iss": f"{base}/auth",
            "aud": f"{base}/auth/resources",
            "client_id": grant.client_id,
            "scope": list(grant.scopes),
            "sub": str(uuid.uuid5(uuid.NAMESPACE_OID, grant.user)),
            "auth_time": str(int(now)),
            "idp": "idsrv",
            "amr": ["password"],
            "nbf": str(int(now)),
            "exp": str(int(now + ACCESS_TTL)),
            "twf.organisationUserCode": grant.user,
            "twf.organisationCode": org.code,
            "twf.organisationId": org.id,
        }
        if "twf.organisation" in grant.scopes:
            claims["twf.clusterUrl"] = f"{base}/{org.cluster}"
        token = ".".join((_b64({"alg": "RS256", "typ": "JWT"}), _b64(claims), secrets.token_urlsafe(32)))
        access = AccessToken(token, grant, now + ACCESS_TTL, claims)
        self.access_tokens[token] = access
        return access

    def _access(self, token: str) -> AccessToken | None:
        access = self.access_tokens.get(token)
        if access is None or access.expires_at <= self.clock() or access.grant.revoked:
            return None
        return access

    async def _validation(self, request: Request) -> Response:
        with self.lock:
            access = self._access(request.query_params.get("token", ""))
            if access is None:
                return json_response({"Message": "invalid_token"}, 400)
            return json_response(access.claims)

    # --- SOAP plumbing ---------------------------------------------------------------------------

    async def _soap_call(
        self, request: Request, operation: str
    ) -> tuple[Organisation, Office | None, ET.Element, AccessToken] | Response:
        """Parse and authorise a SOAP call: (organisation, office or None, the call element, token)."""
        action = (request.headers.get("soapaction") or "").strip('"')
        if action != f"{NS}{operation}":
            return soap_fault(f"Server did not recognize the value of HTTP Header SOAPAction: {action}.")
        body = await request.body()
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
            return soap_fault("DTD is prohibited in this XML document.")
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            return soap_fault(f"Server was unable to read request. ---> {exc}")
        header = root.find(f"{{{SOAP_ENV}}}Header/{{{NS}}}Header")
        call = root.find(f"{{{SOAP_ENV}}}Body/{{{NS}}}{operation}")
        if call is None:
            return soap_fault(f"The body element does not match SOAPAction {operation}.")
        with self.lock:
            access = self._access(_t(header, f"{{{NS}}}AccessToken"))
            if access is None or "twf.organisation" not in access.grant.scopes:
                return soap_fault(TOKEN_INVALID)
            org = self.organisations[access.grant.organisation]
            if request.path_params["cluster"] != org.cluster:
                return soap_fault(f"Access denied. Organisation {org.code} is not on this cluster.")
            company = _t(header, f"{{{NS}}}CompanyCode")
            office = org.offices.get(company) if company else None
            if company and office is None:
                return soap_fault(f"Toegang geweigerd. Administratie {company} is onbekend.")
        return org, office, call, access

    async def _fair_use(self, access: AccessToken, org: Organisation, credits: int) -> Response | None:
        with self.lock:
            window = int(self.clock() // 60)
            key = (access.grant.client_id, window)
            if self._inflight.get(org.code, 0) > 0:
                self.refused_concurrent += 1
                return Response(
                    "Too Many Requests", 429, headers={"Retry-After": "1"}, media_type="text/plain"
                )
            if self.credits_used.get(key, 0) + credits > self.credits_per_minute:
                wait = max(1, math.ceil((window + 1) * 60 - self.clock()))
                return Response(
                    "Too Many Requests", 429, headers={"Retry-After": str(wait)}, media_type="text/plain"
                )
            self.credits_used[key] = self.credits_used.get(key, 0) + credits
            self._inflight[org.code] = self._inflight.get(org.code, 0) + 1
        return None

    async def _done(self, org: Organisation) -> None:
        if self.processing_seconds:
            await asyncio.sleep(self.processing_seconds)
        with self.lock:
            self._inflight[org.code] -= 1

    async def _processxml(self, request: Request) -> Response:
        parsed = await self._soap_call(request, "ProcessXmlString")
        if isinstance(parsed, Response):
            return parsed
        org, office, call, access = parsed
        raw = _t(call, f"{{{NS}}}xmlRequest")
        try:
            doc = ET.fromstring(raw)
        except ET.ParseError:
            doc = None
        root_name = doc.tag if doc is not None else ""
        limited = await self._fair_use(access, org, 1 if root_name in QUERY_ROOTS else 3)
        if limited is not None:
            return limited
        try:
            if doc is None:
                result = _el("response", result="0", msgtype="error", msg="Het XML-verzoek is ongeldig.")
            elif office is None and not (root_name == "list" and _t(doc, "type") == "offices"):
                return soap_fault(NO_COMPANY)
            else:
                with self.lock:
                    result = self._dispatch(org, office, doc)
        finally:
            await self._done(org)
        inner = ET.tostring(result, encoding="unicode", short_empty_elements=True)
        if root_name in self.utf16_roots or "*" in self.utf16_roots:
            inner = '<?xml version="1.0" encoding="utf-16"?>' + inner
            envelope = _soap_body(
                f'<ProcessXmlStringResponse xmlns="{NS}"><ProcessXmlStringResult>{escape(inner)}'
                "</ProcessXmlStringResult></ProcessXmlStringResponse>"
            ).replace('encoding="utf-8"', 'encoding="utf-16"', 1)
            return Response(b"\xff\xfe" + envelope.encode("utf-16-le"), media_type="text/xml; charset=utf-16")
        envelope = _soap_body(
            f'<ProcessXmlStringResponse xmlns="{NS}"><ProcessXmlStringResult>{escape(inner)}'
            "</ProcessXmlStringResult></ProcessXmlStringResponse>"
        )
        return Response(envelope.encode("utf-8"), media_type="text/xml; charset=utf-8")

    async def _finder(self, request: Request) -> Response:
        parsed = await self._soap_call(request, "Search")
        if isinstance(parsed, Response):
            return parsed
        org, office, call, access = parsed
        limited = await self._fair_use(access, org, 1)
        if limited is not None:
            return limited
        try:
            if office is None:
                return soap_fault(NO_COMPANY)
            with self.lock:
                inner = self._search(org, office, call)
        finally:
            await self._done(org)
        return Response(_soap_body(inner).encode("utf-8"), media_type="text/xml; charset=utf-8")

    # --- Finder ----------------------------------------------------------------------------------

    def _search(self, org: Organisation, office: Office, call: ET.Element) -> str:
        kind = _t(call, f"{{{NS}}}type")
        first = int(_t(call, f"{{{NS}}}firstRow") or "1")
        max_rows = int(_t(call, f"{{{NS}}}maxRows") or "100")
        options = {}
        for pair in call.iter(f"{{{NS}}}ArrayOfString"):
            values = [(s.text or "") for s in pair]
            if len(values) == 2:
                options[values[0]] = values[1]
        rows: list[list[str]]
        if kind == "OFF":
            columns, rows = ["Code", "Naam", "Land"], [[o.code, o.name, "NL"] for o in org.offices.values()]
        elif kind == "DIM":
            dims = office.dimensions.get(options.get("dimtype", ""), {})
            columns, rows = ["Code", "Naam"], [[d.code, d.name] for d in dims.values()]
        elif kind == "VAT":
            columns, rows = ["Code", "Naam"], [[v.code, v.name] for v in office.vat.values()]
        elif kind == "TRS":
            category = options.get("category")
            if category not in (None, "sales", "purchase", "journal"):
                return _search_error(f"Ongeldige waarde '{category}' voor optie category.", "InvalidOption")
            columns = ["Code", "Naam"]
            rows = [[c, n] for c, (n, cat) in office.daybooks.items() if category in (None, cat)]
        else:
            return _search_error(f"Onbekend zoektype {kind}.", "UnknownType")
        page = rows[first - 1 : first - 1 + max_rows]
        cols = "".join(f"<string>{escape(c)}</string>" for c in columns)
        items = "".join(
            "<ArrayOfString>" + "".join(f"<string>{escape(v)}</string>" for v in row) + "</ArrayOfString>"
            for row in page
        )
        return (
            f'<SearchResponse xmlns="{NS}"><SearchResult /><data><TotalRows>{len(rows)}</TotalRows>'
            f"<Columns>{cols}</Columns><Items>{items}</Items></data></SearchResponse>"
        )

    # --- ProcessXml documents --------------------------------------------------------------------

    def _dispatch(self, org: Organisation, office: Office | None, doc: ET.Element) -> ET.Element:
        kind = _t(doc, "type")
        if doc.tag == "list" and kind == "offices":
            result = _el("offices", result="1")
            for o in org.offices.values():
                _sub(result, "office", o.code, name=o.name, shortname=o.shortname)
            return result
        assert office is not None
        if doc.tag == "list" and kind == "dimensions":
            dimtype = _t(doc, "dimtype")
            result = _el("dimensions", office=office.code, type=dimtype, result="1")
            for d in office.dimensions.get(dimtype, {}).values():
                _sub(result, "dimension", d.code, name=d.name, shortname=d.shortname)
            return result
        if doc.tag == "read" and kind == "dimensions":
            return self._read_dimension(office, doc)
        if doc.tag == "read" and kind == "vat":
            return self._read_vat(office, doc)
        if doc.tag in ("dimensions", "dimension"):
            return self._dimensions(office, doc)
        if doc.tag in ("transactions", "transaction"):
            return self._transactions(office, doc)
        if doc.tag == "columns":
            return self._browse(office, doc)
        doc.set("result", "0")
        _fail(doc, f"Onbekend verzoek '{doc.tag}'.")
        return doc

    def _read_dimension(self, office: Office, doc: ET.Element) -> ET.Element:
        dim = office.dimension(_t(doc, "dimtype"), _t(doc, "code"))
        if dim is None:
            result = _el("dimension", result="0")
            _fail(_sub(result, "code", _t(doc, "code")), f"Dimensie {_t(doc, 'code')} bestaat niet.")
            return result
        result = _el("dimension", status="active", result="1")
        for tag, value in (
            ("office", office.code),
            ("type", dim.type),
            ("code", dim.code),
            ("name", dim.name),
        ):
            _sub(result, tag, value)
        _sub(result, "shortname", dim.shortname)
        address = _sub(_sub(result, "addresses"), "address", type="invoice", default="true", id="1")
        for tag, value in dim.fields.items():
            _sub(address, tag, value)
        return result

    def _read_vat(self, office: Office, doc: ET.Element) -> ET.Element:
        vat = office.vat.get(_t(doc, "code"))
        if vat is None:
            result = _el("vat", result="0")
            _fail(_sub(result, "code", _t(doc, "code")), f"Btw-code {_t(doc, 'code')} bestaat niet.")
            return result
        result = _el("vat", status="active", result="1")
        for tag, value in (
            ("code", vat.code),
            ("name", vat.name),
            ("shortname", vat.code),
            ("type", vat.type),
        ):
            _sub(result, tag, value)
        percentages = _sub(result, "percentages")
        for since, pct in vat.percentages:
            p = _sub(percentages, "percentage")
            _sub(p, "date", since)
            _sub(p, "percentage", f"{pct:.9f}")
            _sub(p, "name", vat.name)
            accounts = _sub(p, "accounts")
            account = _sub(accounts, "account", id="1")
            _sub(account, "dim1", VAT_ACCOUNT)
            _sub(account, "group", "NL1A" if vat.type == "sales" else "NL5B")
        return result

    def _dimensions(self, office: Office, doc: ET.Element) -> ET.Element:
        items = [doc] if doc.tag == "dimension" else [d for d in doc if d.tag == "dimension"]
        if doc.tag == "dimensions" and len(items) > MAX_CHILDREN:
            _fail(doc, f"Maximaal {MAX_CHILDREN} elementen per verzoek.")
            return doc
        for item in items:
            self._dimension(office, item)
        if doc.tag == "dimensions":
            doc.set("result", "0" if any(i.get("result") == "0" for i in items) else "1")
        return doc

    def _dimension(self, office: Office, item: ET.Element) -> None:
        dimtype = _t(item, "type")
        name = _t(item, "name")
        if _t(item, "office") and _t(item, "office") != office.code:
            _fail(_at(item, "office", item), f"Administratie {_t(item, 'office')} komt niet overeen.")
        if dimtype not in ("DEB", "CRD", "KPL", "PRJ"):
            _fail(_at(item, "type", item), f"Dimensietype {dimtype} bestaat niet.")
        if not name:
            _fail(item, "Naam is verplicht.")
        if item.get("result") == "0":
            return
        code = _t(item, "code")
        existing = office.dimensions.get(dimtype, {})
        if not code:
            start = {"DEB": 1000, "CRD": 2000}.get(dimtype, 100)
            used = {int(c) for c in existing if c.isdigit()}
            number = start
            while number in used:
                number += 1
            code = str(number)
            _sub(item, "code", code)
        address = item.find("addresses/address")
        fields = {c.tag: (c.text or "") for c in address} if address is not None else {}
        dim = office.add_dimension(dimtype, code, name, shortname=_t(item, "shortname"), fields=fields)
        dim.fields = fields
        item.set("result", "1")

    # --- transactions ----------------------------------------------------------------------------

    def _transactions(self, office: Office, doc: ET.Element) -> ET.Element:
        items = [doc] if doc.tag == "transaction" else [t for t in doc if t.tag == "transaction"]
        if doc.tag == "transactions" and len(items) > MAX_CHILDREN:
            _fail(doc, f"Maximaal {MAX_CHILDREN} boekingen per verzoek.")
            return doc
        for item in items:
            self._transaction(office, item)
        if doc.tag == "transactions":
            doc.set("result", "0" if any(i.get("result") == "0" for i in items) else "1")
        return doc

    def _transaction(self, office: Office, item: ET.Element) -> None:
        header = item.find("header")
        lines_el = item.find("lines")
        if header is None or lines_el is None:
            _fail(item, "Kop of regels ontbreken.")
            return
        code_el = header.find("code")
        daybook = office.daybooks.get(_t(header, "code"))
        if daybook is None:
            _fail(code_el if code_el is not None else header, f"Dagboek {_t(header, 'code')} bestaat niet.")
        if _t(header, "office") and _t(header, "office") != office.code:
            _fail(_at(header, "office", header), "Administratie komt niet overeen met de CompanyCode.")
        day = _t(header, "date")
        date_el = header.find("date")
        try:
            parsed_day = datetime.strptime(day, "%Y%m%d").date()
        except ValueError:
            parsed_day = None
            _fail(date_el if date_el is not None else header, f"Ongeldige datum '{day}'.")
        period = _t(header, "period") or (parsed_day.strftime("%Y/%m") if parsed_day else "")
        if parsed_day is not None and office.closed_until and period <= office.closed_until:
            _fail(date_el if date_el is not None else header, f"Periode {period} is afgesloten.")
        if (
            parsed_day is not None
            and _t(header, "period")
            and _t(header, "period") != parsed_day.strftime("%Y/%m")
        ):
            _fail(
                _at(header, "period", header),
                f"Datum valt buiten de opgegeven periode ({period}).",
                "warning",
            )
        kind = daybook[1] if daybook else ""
        line_els = [ln for ln in lines_el if ln.tag == "line"]
        if len(line_els) < 2:
            _fail(item, "Een boeking heeft minstens 2 regels.")
        if len(line_els) > MAX_LINES:
            _fail(item, f"Een boeking heeft hoogstens {MAX_LINES} regels.")
        if item.get("result") == "0":
            return
        detail_side = "credit" if kind == "sales" else "debit"
        lines: list[Line] = []
        totals = 0
        for el in line_els:
            line = self._line(office, el, kind)
            if line is None:
                continue
            if line.type == "total":
                totals += 1
            lines.append(line)
        if kind in ("sales", "purchase") and totals != 1:
            _fail(item, "Een verkoop- of inkoopboeking heeft precies één totaalregel.")
        if any(el.get("result") == "0" for el in line_els) or item.get("result") == "0":
            item.set("result", "0")
            return
        # VAT: explicit vat lines per code within rounding distance of Twinfield's own computation,
        # otherwise generated (half-to-even per detail line).
        day_key = day
        for vatcode in dict.fromkeys(ln.vatcode for ln in lines if ln.type == "detail" and ln.vatcode):
            vat = office.vat[vatcode]
            pct = vat.on(day_key) or Decimal(0)
            details = [ln for ln in lines if ln.type == "detail" and ln.vatcode == vatcode]
            sign = -1 if detail_side == "credit" else 1
            computed = sum((_half_even(ln.signed * sign * pct / 100) for ln in details), Decimal(0))
            explicit = [ln for ln in lines if ln.type == "vat" and ln.vatcode == vatcode]
            if explicit:
                given = sum((ln.signed * sign for ln in explicit), Decimal(0))
                if abs(given - computed) > CENT * len(details):
                    el = next(e for e in line_els if e.get("id") == explicit[0].id)
                    _fail(
                        el,
                        f"Het btw-bedrag {abs(given):.2f} wijkt te veel af van het berekende bedrag {abs(computed):.2f}.",
                    )
            elif computed:
                side = detail_side if computed >= 0 else ("debit" if detail_side == "credit" else "credit")
                lines.append(
                    Line(str(len(lines) + 1), "vat", "1500", "", side, abs(computed), "", vatcode, True)
                )
        if any(el.get("result") == "0" for el in line_els):
            item.set("result", "0")
            return
        difference = sum((ln.signed for ln in lines), Decimal(0))
        if difference and item.get("autobalancevat") == "true" and abs(difference) <= 2 * CENT:
            vat_lines = [ln for ln in lines if ln.type == "vat"]
            if vat_lines:
                target = max(vat_lines, key=lambda ln: ln.value)
                target.value = abs(target.signed - difference)
                difference = Decimal(0)
        if difference:
            side = "credit" if difference > 0 else "debit"
            missing = f"{abs(difference):.2f} {side}"
            _fail(
                item,
                f"De boeking is niet in balans. Er ontbreekt {missing}.//"
                f"De boeking balanceert niet in de basisvaluta. Er ontbreekt {missing}.",
            )
            return
        number = f"{parsed_day.year if parsed_day else 0}{sum(1 for t in office.transactions if t.code == _t(header, 'code')) + 1:05d}"
        status = item.get("destiny", "temporary")
        office.transactions.append(
            Transaction(
                office.code,
                _t(header, "code"),
                number,
                status,
                day,
                period,
                _t(header, "invoicenumber"),
                lines,
            )
        )
        item.set("result", "1")
        item.set("location", status)
        _sub(header, "number", number)
        for ln in lines:
            if ln.generated:
                gen = _sub(lines_el, "line", type="vat", id=str(len(lines_el) + 1))
                _sub(gen, "dim1", ln.dim1)
                _sub(gen, "debitcredit", ln.debitcredit)
                _sub(gen, "value", f"{ln.value:.2f}")
                _sub(gen, "vatcode", ln.vatcode)

    def _line(self, office: Office, el: ET.Element, kind: str) -> Line | None:
        line_type = el.get("type", "")
        value_el = el.find("value")
        raw = _t(el, "value")
        try:
            value = Decimal(raw)
            if not value.is_finite() or value < 0 or value != value.quantize(CENT):
                raise InvalidOperation
        except InvalidOperation:
            _fail(value_el if value_el is not None else el, f"Ongeldig bedrag '{raw}'.")
            return None
        side = _t(el, "debitcredit")
        if side not in ("debit", "credit"):
            _fail(_at(el, "debitcredit", el), "Debet/credit ontbreekt.")
        dim1, dim2, vatcode = _t(el, "dim1"), _t(el, "dim2"), _t(el, "vatcode")
        if len(_t(el, "description")) > DESCRIPTION_LIMIT:
            _fail(_at(el, "description", el), f"Omschrijving is langer dan {DESCRIPTION_LIMIT} tekens.")
        if line_type == "total":
            if office.dimension("BAS", dim1) is None:
                _fail(_at(el, "dim1", el), f"Dimensie {dim1} bestaat niet.")
            relation_type = "DEB" if kind == "sales" else "CRD"
            if office.dimension(relation_type, dim2) is None:
                _fail(_at(el, "dim2", el), f"Dimensie {dim2} bestaat niet.")
        elif line_type == "detail":
            if office.dimension("PNL", dim1) is None and office.dimension("BAS", dim1) is None:
                _fail(_at(el, "dim1", el), f"Dimensie {dim1} bestaat niet.")
            if dim2 and office.dimension("KPL", dim2) is None:
                _fail(_at(el, "dim2", el), f"Dimensie {dim2} bestaat niet.")
            if vatcode:
                vat = office.vat.get(vatcode)
                if vat is None:
                    _fail(_at(el, "vatcode", el), f"Btw-code {vatcode} bestaat niet.")
                elif kind in ("sales", "purchase") and vat.type != kind:
                    _fail(
                        _at(el, "vatcode", el),
                        f"Btw-code {vatcode} is geen {'verkoop' if kind == 'sales' else 'inkoop'}code.",
                    )
        elif line_type == "vat":
            # Documented: dim1 on a VAT line is the VAT balance account; left empty, Twinfield takes the
            # account set at the VAT code (every sandbox VAT code books on 1500).
            if dim1 and office.dimension("BAS", dim1) is None:
                _fail(_at(el, "dim1", el), f"Dimensie {dim1} bestaat niet.")
            if office.vat.get(vatcode) is None:
                _fail(_at(el, "vatcode", el), f"Btw-code {vatcode} bestaat niet.")
            dim1 = dim1 or VAT_ACCOUNT
        else:
            _fail(el, f"Onbekend regeltype '{line_type}'.")
        if el.get("result") == "0" or any(c.get("result") == "0" for c in el):
            el.set("result", "0")
            return None
        return Line(el.get("id", ""), line_type, dim1, dim2, side, value, _t(el, "description"), vatcode)

    # --- browse ----------------------------------------------------------------------------------

    def _browse(self, office: Office, doc: ET.Element) -> ET.Element:
        if doc.get("code") != "000":
            _fail(doc, f"Browse-code {doc.get('code')} wordt niet ondersteund.")
            return doc
        wanted: list[str] = []
        filters: dict[str, str] = {}
        for column in doc.findall("column"):
            name = _t(column, "field")
            if _t(column, "visible") != "false":
                wanted.append(name)
            # A filter counts only on a column with ask=true (php-twinfield sets it on every filtered
            # column); without it the browse returns the whole office.
            if _t(column, "ask") == "true" and _t(column, "operator") == "equal":
                filters[name] = _t(column, "from")
        result = _el("browse", office=office.code, code="000", result="1")
        th = _sub(result, "th")
        for name in wanted:
            _sub(th, "td", name)
        rows = 0
        for trs in office.transactions:
            head = {
                "fin.trs.head.office": trs.office,
                "fin.trs.head.code": trs.code,
                "fin.trs.head.number": trs.number,
                "fin.trs.head.status": trs.status,
                "fin.trs.head.date": trs.date,
            }
            for ln in trs.lines:
                cells = {
                    **head,
                    "fin.trs.line.dim1": ln.dim1,
                    "fin.trs.line.dim2": ln.dim2,
                    "fin.trs.line.invnumber": trs.invoicenumber if ln.type == "total" else "",
                    "fin.trs.line.valuesigned": f"{ln.signed:.2f}",
                    "fin.trs.line.description": ln.description,
                }
                if any(cells.get(k, "") != v for k, v in filters.items()):
                    continue
                rows += 1
                tr = _sub(result, "tr")
                key = _sub(tr, "key")
                for tag, value in (
                    ("office", trs.office),
                    ("code", trs.code),
                    ("number", trs.number),
                    ("line", ln.id),
                ):
                    _sub(key, tag, value)
                for name in wanted:
                    _sub(tr, "td", cells.get(name, ""), field=name)
        result.set("first", "1" if rows else "0")
        result.set("last", str(rows))
        result.set("total", str(rows))
        return result
