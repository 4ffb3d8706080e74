"""Fault injection shared by every simulator.

A fault matches requests by method, path prefix and (for SOAP) operation name. What the client sees:

- ``latency``: the request is delayed by ``ms`` and then served normally (asyncio.sleep, the loop
  stays free). Every matching latency fault applies; they do not stop other faults.
- ``status``: nothing is committed; the client gets ``status`` (429 adds ``Retry-After:
  retry_after``) with the vendor's error body.
- ``timeout``: nothing is committed; the server hangs ``seconds`` and then drops the connection.
  A client with a shorter timeout sees a read timeout, otherwise a transport error.
- ``reset``: nothing is committed; response headers go out, then the connection is closed mid-body.
  httpx raises ``RemoteProtocolError`` (a ``TransportError``), never a clean 5xx.
- ``lost_response``: the operation IS committed (the real handler runs), then the connection is
  dropped like ``reset`` (or, with ``hang=True``, it hangs ``seconds`` first, like ``timeout``).
- ``malformed``: the operation IS committed; the client gets 200 with the real body cut in half
  (invalid JSON/XML), Content-Length matching the truncated body.
- ``hostile``: the operation IS committed; the client gets 200 with the body named by ``payload``
  (one of HOSTILE_PAYLOADS: XML bombs, an external entity, invalid JSON, 10 MB bodies) in the real
  response's content type.
- ``mangle``: the real JSON answer with ``attribute`` set to ``value`` (``ABSENT`` removes it) in
  every record (the items of a list, or the one object under a single key), or only in the record at
  ``index``. ``attribute`` may be dotted (``lines.line1.price``). For bad data from a source.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultKind = Literal[
    "latency", "status", "timeout", "reset", "lost_response", "malformed", "hostile", "mangle"
]
FAULT_KINDS: tuple[str, ...] = (
    "latency", "status", "timeout", "reset", "lost_response", "malformed", "hostile", "mangle"
)  # fmt: skip
ABSENT = "<absent>"
TEN_MB = 10 * 1024 * 1024

_LAUGHS = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
HOSTILE_PAYLOADS: dict[str, bytes] = {
    # Nine levels of ten: a billion "lol"s from a few hundred bytes.
    "billion_laughs": (
        f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{_LAUGHS}]><lolz>&lol9;</lolz>'
    ).encode(),
    # One 50 kB entity referenced 50,000 times: no nesting, still 2.5 GB when expanded.
    "quadratic": (
        f'<?xml version="1.0"?><!DOCTYPE kaboom [<!ENTITY a "{"x" * 50_000}">]><kaboom>'
        + "&a;" * 50_000
        + "</kaboom>"
    ).encode(),
    "external_entity": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY ext SYSTEM "file:///etc/passwd">]><r>&ext;</r>'
    ),
    "huge_xml": b'<?xml version="1.0"?><r>' + b"<x>0</x>" * (TEN_MB // 8) + b"</r>",
    "invalid_json": b'[{"id": "1", "totalintax": ',
    "huge_json": b"[" + b'{"id":"0"},' * (TEN_MB // 11) + b'{"id":"0"}]',
}


@dataclass
class Fault:
    """One injected fault; ``fired`` counts the requests it affected."""

    kind: FaultKind
    method: str | None = None
    path: str | None = None  # prefix of the request path, e.g. "/v1/mutation"
    action: str | None = None  # SOAP operation name, e.g. "AddMutatie"
    times: int | None = None  # None = every matching request
    every_nth: int | None = None  # affect only the n-th, 2n-th, ... matching request
    ms: int = 0  # latency
    status: int = 503  # status
    retry_after: int = 1  # status 429
    seconds: float = 30.0  # timeout, lost_response with hang
    hang: bool = False  # lost_response: hang before dropping
    payload: str = ""  # hostile: a key of HOSTILE_PAYLOADS
    attribute: str = ""  # mangle: the (dotted) record field to change
    value: Any = None  # mangle: its new value, or ABSENT
    index: int | None = None  # mangle: only this record (0-based); None = every record
    id: int = 0
    seen: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def matches(self, method: str, path: str, action: str | None) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is not None and not path.startswith(self.path):
            return False
        return self.action is None or self.action == action

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Faults:
    """Thread-safe list of faults; set from tests (Python) or over HTTP (``/_sandbox/faults``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(
        self,
        kind: FaultKind,
        *,
        method: str | None = None,
        path: str | None = None,
        action: str | None = None,
        times: int | None = None,
        every_nth: int | None = None,
        ms: int = 0,
        status: int = 503,
        retry_after: int = 1,
        seconds: float = 30.0,
        hang: bool = False,
        payload: str = "",
        attribute: str = "",
        value: Any = None,
        index: int | None = None,
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        if kind == "hostile" and payload not in HOSTILE_PAYLOADS:
            raise ValueError(f"hostile fault needs a payload: one of {', '.join(HOSTILE_PAYLOADS)}")
        if kind == "mangle" and not attribute:
            raise ValueError("mangle fault needs an attribute")
        if kind == "status" and not 400 <= status <= 599:
            raise ValueError("status fault needs a 4xx/5xx status")
        if every_nth is not None and every_nth < 1:
            raise ValueError("every_nth must be >= 1")
        with self._lock:
            fault = Fault(
                kind=kind,
                method=method,
                path=path,
                action=action,
                times=times,
                every_nth=every_nth,
                ms=ms,
                status=status,
                retry_after=retry_after,
                seconds=seconds,
                hang=hang,
                payload=payload,
                attribute=attribute,
                value=value,
                index=index,
                id=next(self._ids),
            )
            self._faults.append(fault)
            return fault

    def add_dict(self, spec: dict[str, Any]) -> Fault:
        """Add from a JSON spec (control endpoint); unknown keys are an error."""
        allowed = {"kind", "method", "path", "action", "times", "every_nth", "ms", "status"}
        allowed |= {"retry_after", "seconds", "hang", "payload", "attribute", "value", "index"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        if "kind" not in spec:
            raise ValueError("fault needs a kind")
        return self.add(**spec)

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.active())

    def select(self, method: str, path: str, action: str | None) -> tuple[list[Fault], Fault | None]:
        """Consume matching faults for one request: (latency faults, first other fault)."""
        latency: list[Fault] = []
        chosen: Fault | None = None
        with self._lock:
            for fault in self._faults:
                if fault.exhausted or not fault.matches(method, path, action):
                    continue
                if fault.kind != "latency" and chosen is not None:
                    continue
                fault.seen += 1
                if fault.every_nth is not None and fault.seen % fault.every_nth:
                    continue
                fault.fired += 1
                if fault.kind == "latency":
                    latency.append(fault)
                else:
                    chosen = fault
        return latency, chosen


def mangle(body: Any, fault: Fault) -> Any:
    """The JSON answer with `fault.attribute` changed in every record, or in the one at `fault.index`."""
    if isinstance(body, list):
        records = body
    elif isinstance(body, dict) and len(body) == 1 and isinstance(next(iter(body.values())), dict):
        records = [next(iter(body.values()))]
    else:
        records = [body]
    for i, record in enumerate(records):
        if fault.index is not None and i != fault.index:
            continue
        *parents, last = fault.attribute.split(".")
        target = record
        for name in parents:
            target = target.get(name) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            continue
        if fault.value == ABSENT:
            target.pop(last, None)
        else:
            target[last] = fault.value
    return body
