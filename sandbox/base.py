"""The part every simulator shares: request log, fault layer and ``/_sandbox`` control endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox._util import Clock, dumps, parse_json, system_clock
from sandbox.faults import HOSTILE_PAYLOADS, Fault, Faults, mangle

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONTROL_PREFIX = "/_sandbox"


class ConnectionDropped(Exception):
    """Raised after response headers went out: uvicorn then closes the socket mid-response."""


class _QuietDrops(logging.Filter):
    """Keep uvicorn from logging a traceback for every deliberate connection drop."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


@dataclass(frozen=True)
class RequestRecord:
    """One request as the simulator saw it. ``status`` 0 means the connection was dropped."""

    method: str
    path: str
    query: str
    status: int
    fault: str | None
    action: str | None = None  # SOAP operation


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status_code=status, headers=headers, media_type="application/json")


class SimBase:
    """Base of a simulator: an ASGI app with faults, request log and control endpoints.

    Subclasses build their vendor app in ``build_app`` and may override ``gate`` (rate limits that
    apply before the vendor app), ``error_body`` and ``state_summary``.
    """

    name = "sim"

    def __init__(self, clock: Clock | None = None) -> None:
        # One re-entrant lock for all state: handlers (server thread) and tests (main thread).
        self.lock = threading.RLock()
        self.clock: Clock = clock or system_clock
        self.faults = Faults()
        self._log: list[RequestRecord] = []
        self._app: ASGIApp = self.build_app()
        self._control: ASGIApp = Starlette(routes=self._control_routes())
        self._release: asyncio.Event | None = None

    # --- to override
    def build_app(self) -> ASGIApp:
        raise NotImplementedError

    async def gate(self, scope: Scope) -> Response | None:
        """A response that replaces the vendor app (e.g. 429), or None to continue."""
        return None

    def error_response(self, status: int, retry_after: int, scope: Scope) -> Response:
        """The vendor-shaped response for a ``status`` fault."""
        headers = {"Retry-After": str(retry_after)} if status == 429 else None
        return json_response({"error": f"HTTP {status}"}, status, headers)

    def state_summary(self) -> dict[str, Any]:
        return {}

    def extra_control_routes(self) -> list[Route]:
        return []

    def soap_action(self, scope: Scope) -> str | None:
        return None

    # --- request log
    @property
    def request_log(self) -> list[RequestRecord]:
        with self.lock:
            return list(self._log)

    def request_count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        with self.lock:
            return sum(
                1
                for r in self._log
                if (method is None or r.method == method.upper())
                and (path_prefix is None or r.path.startswith(path_prefix))
            )

    def clear_request_log(self) -> None:
        with self.lock:
            self._log.clear()

    def _record(self, scope: Scope, status: int, fault: Fault | None, action: str | None) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        rec = RequestRecord(
            scope["method"], scope["path"], query, status, fault.kind if fault else None, action
        )
        with self.lock:
            self._log.append(rec)

    # --- hangs end early when the server stops, so shutdown is not held up by a timeout fault
    def _release_event(self) -> asyncio.Event:
        if self._release is None:
            self._release = asyncio.Event()
        return self._release

    def release_hangs(self) -> None:
        """Call on the server loop: ends every hanging fault (they then drop the connection)."""
        self._release_event().set()

    async def _hang(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release_event().wait(), seconds)

    @staticmethod
    async def _drop(send: Send) -> None:
        # Headers then a partial chunked body, then an exception: uvicorn closes the transport, so
        # the client sees a protocol/transport error rather than a clean 500.
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"', "more_body": True})
        raise ConnectionDropped()

    # --- ASGI entry point
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            await self._control(scope, receive, send)
            return
        action = self.soap_action(scope)
        latency, fault = self.faults.select(scope["method"], path, action)
        for lat in latency:
            await asyncio.sleep(lat.ms / 1000)
        if fault is None:
            await self._serve(scope, receive, send, action)
            return
        kind = fault.kind
        if kind == "status":
            resp = self.error_response(fault.status, fault.retry_after, scope)
            self._record(scope, fault.status, fault, action)
            await resp(scope, receive, send)
        elif kind == "timeout":
            self._record(scope, 0, fault, action)
            await self._hang(fault.seconds)
            await self._drop(send)
        elif kind == "reset":
            self._record(scope, 0, fault, action)
            await self._drop(send)
        elif kind == "lost_response":
            status, _headers, _body = await self._capture(scope, receive)
            self._record(scope, status, fault, action)
            if fault.hang:
                await self._hang(fault.seconds)
            await self._drop(send)
        elif kind in ("hostile", "mangle"):
            status, headers, body = await self._capture(scope, receive)
            self._record(scope, status, fault, action)
            ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"application/json")
            if kind == "hostile":
                body = HOSTILE_PAYLOADS[fault.payload]
            else:
                body = dumps(mangle(parse_json(body), fault))
            resp = Response(body, status_code=status, headers={"content-type": ctype.decode("latin-1")})
            await resp(scope, receive, send)
        elif kind == "malformed":
            status, headers, body = await self._capture(scope, receive)
            self._record(scope, status, fault, action)
            cut = body[: len(body) // 2] if len(body) > 1 else b"{"
            ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"application/json")
            resp = Response(cut, status_code=200, headers={"content-type": ctype.decode("latin-1")})
            await resp(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, action: str | None) -> None:
        async def send_spy(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Log before the client can see the answer: a test that counts requests right after
                # a response must find this one in the log.
                self._record(scope, int(message["status"]), None, action)
            await send(message)

        gated = await self.gate(scope)
        if gated is not None:
            await gated(scope, receive, send_spy)
        else:
            await self._app(scope, receive, send_spy)

    async def _capture(self, scope: Scope, receive: Receive) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Run the vendor app (committing its effect) but keep the response from the client."""
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def sink(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        gated = await self.gate(scope)
        await (gated or self._app)(scope, receive, sink)
        return status, headers, b"".join(chunks)

    # --- control endpoints (never faulted, never logged, never rate limited)
    def _control_routes(self) -> list[Route]:
        async def faults_post(request: Request) -> Response:
            try:
                spec = parse_json(await request.body())
                specs = spec if isinstance(spec, list) else [spec]
                added = [self.faults.add_dict(dict(s)) for s in specs]
            except (ValueError, TypeError) as exc:
                return json_response({"error": str(exc)}, 400)
            return json_response({"faults": [f.to_dict() for f in added]})

        async def faults_delete(request: Request) -> Response:
            fid = request.query_params.get("id")
            if fid is not None:
                return json_response({"removed": self.faults.remove(int(fid))})
            self.faults.clear()
            return json_response({"removed": "all"})

        async def faults_get(request: Request) -> Response:
            return json_response({"faults": [f.to_dict() for f in self.faults.active()]})

        async def state(request: Request) -> Response:
            with self.lock:
                summary = {
                    "sim": self.name,
                    "requests": len(self._log),
                    "faults": [f.to_dict() for f in self.faults.active()],
                    **self.state_summary(),
                }
            return json_response(summary)

        async def requests(request: Request) -> Response:
            return json_response([r.__dict__ for r in self.request_log])

        return [
            Route(f"{CONTROL_PREFIX}/faults", faults_post, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/faults", faults_delete, methods=["DELETE"]),
            Route(f"{CONTROL_PREFIX}/faults", faults_get, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/state", state, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/requests", requests, methods=["GET"]),
            *self.extra_control_routes(),
        ]
