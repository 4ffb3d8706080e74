"""e-Boekhouden.nl simulator: REST v1 (``/v1/…``) and legacy SOAP (``/soap.asmx``) on one app.

Behaviour follows the fact sheet and docs/protocol-decisions.md (session flow, Error model, filter
syntax, paging, booking rules and error codes). Both doors book into the same administrations.
"""

from __future__ import annotations

import math
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox._util import Clock, parse_json
from sandbox.base import ASGIApp, Scope, SimBase, json_response
from sandbox.eb_store import (
    Administration,
    BookError,
    CostCenter,
    Ledger,
    Mutation,
    Relation,
    apply_filters,
)

SOURCE_PATTERN = r"^[A-Za-z0-9]{1,10}$"
MAX_LIMIT = 2000
SOAP_PATH = "/soap.asmx"


@dataclass
class ApiToken:
    token: str
    administration_id: int
    domain: str = "NL"
    expires_at: float | None = None
    revoked: bool = False


@dataclass
class Session:
    token: str
    administration_id: int
    expires_at: float
    api_token: str | None = None  # REST
    username: str | None = None  # SOAP


@dataclass
class SoapUser:
    username: str
    code1: str
    code2: str
    administration_id: int


class HttpError(Exception):
    def __init__(
        self, status: int, code: str, message: str, prop: str | None = None, kind: str = "validation"
    ):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.prop, self.kind = status, code, message, prop, kind


_TITLES = {"validation": "One or more validation errors occurred", "security": "Not authorized"}


def error_json(
    status: int, code: str, message: str, prop: str | None = None, kind: str = "validation"
) -> Response:
    """The documented ``Error`` model; ``errors`` only on validation errors."""
    body: dict[str, Any] = {
        "type": kind,
        "code": code,
        "title": _TITLES.get(kind, "Error"),
        "message": message,
        "status": status,
        "traceId": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00",
    }
    if prop is not None:
        body["propertyName"] = prop
    if kind == "validation":
        body["errors"] = [{"code": code, "message": message, "propertyName": prop}]
    headers = {"Retry-After": "1"} if status == 429 else None
    return json_response(body, status, headers)


class EBoekhoudenSim(SimBase):
    """One e-Boekhouden installation (a country host) with administrations, tokens and SOAP users.

    ``eb.mutations`` / ``eb.relations`` / ``eb.ledgers`` / ``eb.cost_centers`` refer to the default
    administration.
    """

    name = "eboekhouden"

    def __init__(
        self,
        *,
        country: str = "NL",
        administration: str = "Demo Administratie",
        company: str = "Koppelaar Demo B.V.",
        session_ttl: int = 3600,
        rate_limit: float | None = None,
        burst: int | None = None,
        max_soap_body: int = 1_000_000,
        clock: Clock | None = None,
    ) -> None:
        self.country = country
        self.session_ttl = session_ttl
        self.rate_limit = rate_limit
        self.burst = burst
        self.max_soap_body = max_soap_body
        self.administrations: dict[int, Administration] = {}
        self.api_tokens: dict[str, ApiToken] = {}
        self.sessions: dict[str, Session] = {}
        self.soap_users: dict[str, SoapUser] = {}
        self._bucket: tuple[float, float] | None = None  # (tokens, last refill time)
        super().__init__(clock)
        self.default = self.add_administration(administration, company)

    # --- seeding and inspection
    def add_administration(self, name: str, company: str, *, city: str = "Amsterdam") -> Administration:
        with self.lock:
            admin_id = 10_000 + len(self.administrations) + 1
            admin = Administration(
                admin_id, name, company, country=self.country, city=city, guid=str(uuid.uuid4())
            )
            self.administrations[admin_id] = admin
            return admin

    def _admin(self, administration: Administration | int | None) -> Administration:
        if administration is None:
            return self.default
        if isinstance(administration, Administration):
            return administration
        return self.administrations[administration]

    def add_api_token(
        self,
        token: str,
        administration: Administration | int | None = None,
        *,
        domain: str | None = None,
        expires_at: float | None = None,
    ) -> ApiToken:
        """Register an API token; ``domain`` other than the sim's country → SECURITY_011."""
        with self.lock:
            api = ApiToken(token, self._admin(administration).id, domain or self.country, expires_at)
            self.api_tokens[token] = api
            return api

    def revoke_token(self, token: str) -> None:
        """The user deleted the API token: new sessions fail API_SESSION_004, open ones SECURITY_010."""
        with self.lock:
            if token in self.api_tokens:
                self.api_tokens[token].revoked = True
            for key in [k for k, s in self.sessions.items() if s.api_token == token]:
                del self.sessions[key]

    def expire_sessions(self) -> None:
        """Expire every open REST and SOAP session now (tests of re-login)."""
        with self.lock:
            self.sessions.clear()

    def add_soap_user(
        self, username: str, code1: str, code2: str, administration: Administration | int | None = None
    ) -> SoapUser:
        with self.lock:
            user = SoapUser(username, code1, code2, self._admin(administration).id)
            self.soap_users[username] = user
            return user

    def change_password(self, username: str) -> str:
        """The user changed the e-Boekhouden password: Beveiligingscode 1 rotates. Returns the new code."""
        with self.lock:
            user = self.soap_users[username]
            user.code1 = secrets.token_hex(16).upper()
            for key in [k for k, s in self.sessions.items() if s.username == username]:
                del self.sessions[key]
            return user.code1

    def close_period(self, until: str, administration: Administration | int | None = None) -> None:
        """Bookings dated on or before ``until`` fail with MUT_005."""
        with self.lock:
            self._admin(administration).closed_until = until

    def add_relation(
        self, code: str, name: str, administration: Administration | int | None = None, **fields: Any
    ) -> Relation:
        with self.lock:
            return self._admin(administration).add_relation(code, name, **fields)

    def add_cost_center(
        self,
        description: str,
        administration: Administration | int | None = None,
        *,
        parent_id: int = 0,
        active: bool = True,
    ) -> CostCenter:
        with self.lock:
            return self._admin(administration).add_cost_center(
                description, parent_id=parent_id, active=active
            )

    def book(self, spec: dict[str, Any], administration: Administration | int | None = None) -> Mutation:
        """Book a REST-shaped mutation directly (seeding); raises BookError like the API would."""
        with self.lock:
            return self._admin(administration).book(spec, via="seed")

    def ledger_id(self, code: str, administration: Administration | int | None = None) -> int:
        with self.lock:
            ledger = self._admin(administration).ledger_by_code(code)
            if ledger is None:
                raise KeyError(code)
            return ledger.id

    @property
    def mutations(self) -> list[Mutation]:
        with self.lock:
            return list(self.default.mutations)

    @property
    def cost_centers(self) -> list[CostCenter]:
        with self.lock:
            return list(self.default.cost_centers.values())

    @property
    def relations(self) -> list[Relation]:
        with self.lock:
            return list(self.default.relations.values())

    @property
    def ledgers(self) -> list[Ledger]:
        with self.lock:
            return list(self.default.ledgers.values())

    def state_summary(self) -> dict[str, Any]:
        return {
            "administrations": [
                {"id": a.id, "name": a.name, "mutations": len(a.mutations), "relations": len(a.relations)}
                for a in self.administrations.values()
            ],
            "mutations": len(self.default.mutations),
            "relations": len(self.default.relations),
            "sessions": len(self.sessions),
        }

    # --- rate limit (token bucket, checked before the vendor app)
    async def gate(self, scope: Scope) -> Response | None:
        if self.rate_limit is None:
            return None
        with self.lock:
            capacity = float(self.burst if self.burst is not None else max(1, math.ceil(self.rate_limit)))
            now = self.clock()
            tokens, last = self._bucket or (capacity, now)
            tokens = min(capacity, tokens + (now - last) * self.rate_limit)
            if tokens < 1:
                self._bucket = (tokens, now)
                retry = max(1, math.ceil((1 - tokens) / self.rate_limit))
                return self._limit_response(scope, retry)
            self._bucket = (tokens - 1, now)
        return None

    def _limit_response(self, scope: Scope, retry: int) -> Response:
        if scope["path"].startswith(SOAP_PATH):
            return Response("Too Many Requests", 429, {"Retry-After": str(retry)}, media_type="text/plain")
        resp = error_json(429, "API_RATE_001", "Too many requests, retry later", kind="security")
        resp.headers["Retry-After"] = str(retry)
        return resp

    def error_response(self, status: int, retry_after: int, scope: Scope) -> Response:
        if status == 429:
            return self._limit_response(scope, retry_after)
        if scope["path"].startswith(SOAP_PATH):
            from sandbox.eb_soap import soap_fault

            return soap_fault("Server was unable to process request.", status=status)
        texts = {500: "Internal server error", 502: "Bad gateway", 503: "Service unavailable"}
        return error_json(status, f"HTTP_{status}", texts.get(status, "Error"), kind="security")

    def soap_action(self, scope: Scope) -> str | None:
        if not scope["path"].startswith(SOAP_PATH):
            return None
        for key, value in scope.get("headers", []):
            if key == b"soapaction":
                return str(value.decode("latin-1").strip().strip('"').rsplit("/", 1)[-1]) or None
        return None

    def extra_control_routes(self) -> list[Route]:
        async def change_password(request: Request) -> Response:
            body = parse_json(await request.body())
            try:
                return json_response({"code1": self.change_password(str(body["username"]))})
            except KeyError:
                return json_response({"error": "unknown user"}, 404)

        async def revoke(request: Request) -> Response:
            body = parse_json(await request.body())
            self.revoke_token(str(body["token"]))
            return json_response({"revoked": True})

        async def expire(request: Request) -> Response:
            self.expire_sessions()
            return json_response({"expired": True})

        return [
            Route("/_sandbox/eboekhouden/change_password", change_password, methods=["POST"]),
            Route("/_sandbox/eboekhouden/revoke_token", revoke, methods=["POST"]),
            Route("/_sandbox/eboekhouden/expire_sessions", expire, methods=["POST"]),
        ]

    # --- REST
    def _session(self, request: Request) -> Administration:
        header = request.headers.get("authorization", "").strip()
        token = header[7:].strip() if header[:7].lower() == "bearer " else header
        with self.lock:
            session = self.sessions.get(token) if token else None
            if session is None or session.api_token is None or session.expires_at <= self.clock():
                if session is not None and session.api_token is not None:
                    del self.sessions[token]
                raise HttpError(
                    401, "SECURITY_010", "Not authenticated. Check your Authorization header", kind="security"
                )
            return self.administrations[session.administration_id]

    def build_app(self) -> ASGIApp:
        from sandbox.eb_soap import SoapHandler

        def rest(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
            async def wrapped(request: Request) -> Response:
                try:
                    result = await handler(request)
                except HttpError as e:
                    return error_json(e.status, e.code, e.message, e.prop, e.kind)
                except BookError as e:
                    return error_json(400, e.code, e.message, e.prop)
                return result if isinstance(result, Response) else json_response(result)

            return wrapped

        soap = SoapHandler(self)
        return Starlette(
            routes=[
                Route("/v1/session", rest(self._post_session), methods=["POST"]),
                Route("/v1/session", rest(self._delete_session), methods=["DELETE"]),
                Route("/v1/administration", rest(self._administrations), methods=["GET"]),
                Route("/v1/administration/linked", rest(self._linked), methods=["GET"]),
                Route("/v1/ledger", rest(self._ledgers), methods=["GET"]),
                Route("/v1/ledger/{id}", rest(self._ledger), methods=["GET"]),
                Route("/v1/costcenter", rest(self._cost_centers), methods=["GET"]),
                Route("/v1/relation", rest(self._relations), methods=["GET"]),
                Route("/v1/relation", rest(self._post_relation), methods=["POST"]),
                Route("/v1/relation/{id}", rest(self._relation), methods=["GET"]),
                Route("/v1/mutation", rest(self._mutations), methods=["GET"]),
                Route("/v1/mutation", rest(self._post_mutation), methods=["POST"]),
                Route("/v1/mutation/{id}", rest(self._mutation), methods=["GET"]),
                Route(SOAP_PATH, soap.endpoint, methods=["POST"]),
            ]
        )

    @staticmethod
    async def _json_body(request: Request) -> dict[str, Any]:
        try:
            body = parse_json(await request.body())
        except ValueError:
            raise HttpError(400, "REQUEST_001", "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise HttpError(400, "REQUEST_001", "The request body must be a JSON object")
        return body

    async def _post_session(self, request: Request) -> Any:
        import re

        body = await self._json_body(request)
        token = body.get("accessToken")
        source = body.get("source")
        if not token:
            raise HttpError(400, "API_SESSION_003", "accessToken is required", "accessToken")
        if not source:
            raise HttpError(400, "API_SESSION_001", "source is required", "source")
        if not isinstance(source, str) or not re.match(SOURCE_PATTERN, source):
            raise HttpError(400, "API_SESSION_002", f"source must match {SOURCE_PATTERN}", "source")
        with self.lock:
            api = self.api_tokens.get(str(token))
            now = self.clock()
            if api is not None and api.domain != self.country:
                raise HttpError(
                    401, "SECURITY_011", "The token is registered under a different domain", kind="security"
                )
            if api is None or api.revoked or (api.expires_at is not None and api.expires_at <= now):
                raise HttpError(
                    401, "API_SESSION_004", "The access token is invalid or expired", kind="security"
                )
            session = Session(
                secrets.token_urlsafe(32), api.administration_id, now + self.session_ttl, api_token=api.token
            )
            self.sessions[session.token] = session
        return {"token": session.token, "expiresIn": self.session_ttl}

    async def _delete_session(self, request: Request) -> Any:
        self._session(request)
        header = request.headers.get("authorization", "").strip()
        token = header[7:].strip() if header[:7].lower() == "bearer " else header
        with self.lock:
            self.sessions.pop(token, None)
        return Response(status_code=204)

    @staticmethod
    def _page(request: Request, items: list[dict[str, Any]], fields: dict[str, str]) -> dict[str, Any]:
        q = request.query_params
        try:
            limit = int(q.get("limit", 100))
        except ValueError:
            limit = -1
        if not 1 <= limit <= MAX_LIMIT:
            raise HttpError(400, "PAGE_001", f"limit must be between 1 and {MAX_LIMIT}", "limit")
        try:
            offset = int(q.get("offset", 0))
        except ValueError:
            offset = -1
        if offset < 0:
            raise HttpError(400, "PAGE_002", "offset must be 0 or more", "offset")
        items = apply_filters(items, list(q.multi_items()), fields)
        return {"items": items[offset : offset + limit], "count": len(items)}

    async def _administrations(self, request: Request) -> Any:
        admin = self._session(request)
        # The OpenAPI's AdministrationListItem: guid and company, nothing else.
        return {"items": [{"guid": admin.guid, "company": admin.company}], "count": 1}

    async def _linked(self, request: Request) -> Any:
        self._session(request)
        return {"items": [], "count": 0}

    async def _ledgers(self, request: Request) -> Any:
        admin = self._session(request)
        with self.lock:
            items = [lg.to_json() for lg in sorted(admin.ledgers.values(), key=lambda x: x.id)]
        return self._page(
            request, items, {"id": "int", "code": "str", "description": "str", "category": "str"}
        )

    async def _ledger(self, request: Request) -> Any:
        admin = self._session(request)
        with self.lock:
            ledger = admin.ledgers.get(_int(request.path_params["id"]))
            if ledger is None:
                raise HttpError(404, "LED_001", "Ledger not found", "id")
            return ledger.to_json()

    async def _cost_centers(self, request: Request) -> Any:
        admin = self._session(request)
        with self.lock:
            items = [c.to_json() for c in sorted(admin.cost_centers.values(), key=lambda x: x.id)]
        return self._page(request, items, {"id": "int", "description": "str", "parentId": "int"})

    async def _relations(self, request: Request) -> Any:
        admin = self._session(request)
        with self.lock:
            records = [r.to_json() for r in sorted(admin.relations.values(), key=lambda x: x.id)]
        # The OpenAPI's filters (code, type, email, name, contact, city; no VAT number) on the whole
        # relation, and its thin RelationListItem: id, type, code. Name and VAT number need GET /{id}.
        fields = {
            "code": "str",
            "type": "str",
            "email": "str",
            "name": "str",
            "contact": "str",
            "city": "str",
        }
        page = self._page(request, [r | {"email": r["emailAddress"]} for r in records], fields)
        page["items"] = [{k: r[k] for k in ("id", "type", "code")} for r in page["items"]]
        return page

    async def _relation(self, request: Request) -> Any:
        admin = self._session(request)
        with self.lock:
            rel = admin.relations.get(_int(request.path_params["id"]))
            if rel is None:
                raise HttpError(404, "REL_002", "Relation not found", "id")
            return rel.to_json()

    async def _post_relation(self, request: Request) -> Any:
        admin = self._session(request)
        body = await self._json_body(request)
        fields = {
            "type": str(body.get("type") or ""),
            "vat_number": str(body.get("vatNumber") or ""),
            "coc_number": str(body.get("companyRegistrationNumber") or ""),
            "address": str(body.get("address") or ""),
            "postal_code": str(body.get("postalCode") or ""),
            "city": str(body.get("city") or ""),
            "country": str(body.get("country") or "NL"),
            "email": str(body.get("emailAddress") or ""),
            "iban": str(body.get("iban") or ""),
            "contact": str(body.get("contact") or ""),
        }
        with self.lock:
            rel = admin.add_relation(str(body.get("code") or ""), str(body.get("name") or ""), **fields)
        return {"id": rel.id}

    async def _mutations(self, request: Request) -> Any:
        admin = self._session(request)
        with self.lock:
            items = [m.thin_json() | {"description": m.description} for m in admin.mutations]
        # The OpenAPI's filters; its MutationListItem has no relation and no description.
        fields = {"id": "int", "type": "int", "description": "str", "invoiceNumber": "str", "date": "date"}
        page = self._page(request, items, fields)
        page["items"] = [{k: v for k, v in m.items() if k != "description"} for m in page["items"]]
        return page

    async def _mutation(self, request: Request) -> Any:
        admin = self._session(request)
        mid = _int(request.path_params["id"])
        with self.lock:
            found = next((m for m in admin.mutations if m.id == mid), None)
            if found is None:
                raise HttpError(404, "MUT_000", "Mutation not found", "id")
            return found.to_json()

    async def _post_mutation(self, request: Request) -> Any:
        admin = self._session(request)
        body = await self._json_body(request)
        if not isinstance(body.get("type"), int) or isinstance(body.get("type"), bool):
            # MutationType is an integer enum in the OpenAPI: a string does not bind.
            raise HttpError(400, "MUT_001", "Type must be one of 1..7", "type")
        with self.lock:
            mutation = admin.book(body, via="rest")
        return {"id": mutation.id}


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        return -1
