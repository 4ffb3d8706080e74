"""Small helpers private to the sandbox: money rounding, JSON with exact decimals, clocks.

Deliberately independent of connectors/: a shared helper would hide a shared bug.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
Clock = Callable[[], float]


def round_cents(value: Decimal) -> Decimal:
    """Half-up to cents; for negatives this is away from zero (Decimal's ROUND_HALF_UP)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money_str(value: Decimal) -> str:
    """Two-decimal text, e.g. ``"10.92"`` (FactuurSturen top-level amounts)."""
    return format(round_cents(value), "f")


def plain_number(value: Decimal) -> str:
    """Shortest exact decimal text without exponent: 13.00 -> ``13``, 13.50 -> ``13.5``."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


class RawNumber:
    """A JSON number whose text is emitted verbatim (exact decimals, never float)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_encode_str: Callable[[str], str] = json.encoder.encode_basestring


def _encode(obj: Any, out: list[str]) -> None:
    if isinstance(obj, str):
        out.append(_encode_str(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        out.append(str(obj))
    elif isinstance(obj, Decimal):
        out.append(format(obj, "f"))
    elif isinstance(obj, float):  # control-endpoint settings only (seconds); money is never float
        out.append(repr(obj))
    elif isinstance(obj, RawNumber):
        out.append(obj.text)
    elif isinstance(obj, dict):
        out.append("{")
        first = True
        for key, val in obj.items():
            if not first:
                out.append(",")
            first = False
            out.append(_encode_str(str(key)))
            out.append(":")
            _encode(val, out)
        out.append("}")
    elif isinstance(obj, list | tuple):
        out.append("[")
        for i, val in enumerate(obj):
            if i:
                out.append(",")
            _encode(val, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def dumps(obj: Any) -> bytes:
    """JSON encoding where Decimal is a JSON number with its exact digits (no float detour)."""
    out: list[str] = []
    _encode(obj, out)
    return "".join(out).encode("utf-8")


def parse_json(body: bytes) -> Any:
    """Parse a request body, keeping numbers exact (floats become Decimal)."""
    return json.loads(body, parse_float=Decimal)


class FakeClock:
    """A settable clock for tests (quota windows, session expiry, token buckets)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def set(self, now: float) -> None:
        with self._lock:
            self._now = now


def system_clock() -> float:
    return time.time()
