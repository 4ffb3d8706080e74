"""The shared HTTP layer: one httpx.AsyncClient per connection, rate limited, retrying only where safe.

Retry policy (the heart of "no double booking"):

* idempotent requests (GET/HEAD/PUT/DELETE, or a POST the caller marks idempotent) are retried on 429,
  5xx, timeouts, transport errors and malformed bodies, with capped exponential backoff and jitter;
* a create is retried only when it provably never reached the server (connect error/timeout) or the
  server said 429 (not processed). Anything else after the bytes left raises `UncertainError`: the engine
  looks the booking up by reference before it ever posts again.

Every exchange is kept as redacted text (secrets replaced by ``***``) in a bounded log.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import random
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
from aiolimiter import AsyncLimiter

from connectors.contract import RateLimit
from connectors.errors import ConnectorError, Origin, TransientError, UncertainError

log = logging.getLogger("koppelaar.http")

# httpcore 1.0 runs `import sniffio` each time it sets up a lock, event or semaphore (about twelve
# times per request). anyio >= 4.11 no longer installs sniffio and Python does not cache a failed
# import, so every attempt searched sys.path again (~0.1 ms each; encode/httpcore#1103). Record the
# absence once: the import then fails at once, with the ImportError httpcore already handles.
if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

Sleep = Callable[[float], Awaitable[None]]
Check = Callable[[httpx.Response], None]
Reveals = Callable[[httpx.Response], Iterable[str]]
Observe = Callable[[httpx.Response], None]
RetryWait = Callable[[httpx.Response, float], float | None]
# Told when a connector starts (why, until: epoch seconds) and ends (None) a pause the vendor asked for.
WaitListener = Callable[[str, float | None], None]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MASKED_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization"})
SECRET_PARAMS = frozenset(
    {"key", "apikey", "api_key", "token", "access_token", "accesstoken", "password", "secret", "sessionid"}
)
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
BODY_LIMIT = 2048


class MalformedResponseError(ValueError):
    """A 2xx response whose body is not what the vendor promised."""


# --- pauses the vendor asked for, announced to whoever runs the connector ------------------------

# Set by the engine for its run; tasks it starts inherit it, so a connector needs no reference to it.
wait_listener: ContextVar[WaitListener | None] = ContextVar("wait_listener", default=None)


async def pause(reason: str, seconds: float, sleep: Sleep, clock: Callable[[], float]) -> None:
    """Sleep `seconds` because the vendor said so, telling the run's listener why and until when."""
    listener = wait_listener.get()
    if listener is not None:
        listener(reason, clock() + seconds)
    try:
        await sleep(seconds)
    finally:
        if listener is not None:
            listener(reason, None)


# --- JSON with exact decimals -------------------------------------------------------------------


def encode_json(value: object) -> bytes:
    """JSON where Decimal becomes a number literal digit for digit (json.dumps would need a float)."""
    return _encode(value).encode("utf-8")


def _encode(value: object) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send {value} as an amount")
        return format(value, "f")
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, float):
        raise TypeError("floats are not allowed in vendor payloads; use Decimal")
    return json.dumps(value, ensure_ascii=False)


def decode_json(response: httpx.Response) -> Any:
    """The body as JSON, numbers with a fraction as Decimal. Raises MalformedResponseError."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedResponseError(f"geen geldige JSON: {exc}") from None


def require_json(response: httpx.Response) -> None:
    """A `check` for JSON APIs: a non-empty 2xx body must parse (204/empty is the caller's business)."""
    if response.content.strip():
        decode_json(response)


# --- redaction ------------------------------------------------------------------------------------


class Redactor:
    """Replaces every known secret literal (and its URL-encoded forms) by ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        if not secret:
            return  # replacing "" would mangle everything and protect nothing
        self._forms.update({secret, quote(secret, safe=""), quote_plus(secret)})

    def __call__(self, text: str) -> str:
        # Longest first, so a secret containing another secret is masked whole.
        for form in sorted(self._forms, key=len, reverse=True):
            text = text.replace(form, "***")
        return text


def _truncate(data: bytes) -> str:
    # A body with a UTF-16 byte-order mark (Twinfield answers some calls in UTF-16LE) is decoded as
    # such: read as UTF-8 it would be unreadable, and the redactor would not see a secret in it.
    codec = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8"
    limit = BODY_LIMIT * 2 if codec == "utf-16" else BODY_LIMIT
    text = data[:limit].decode(codec, errors="replace")
    return text + f"… ({len(data)} bytes)" if len(data) > limit else text


def _masked_url(url: httpx.URL) -> str:
    if not url.query:
        return str(url)
    params = [(k, "***" if k.lower() in SECRET_PARAMS else v) for k, v in url.params.multi_items()]
    return str(url.copy_with(params=params))


# --- the client -------------------------------------------------------------------------------------


class VendorClient:
    """One connection to one vendor: base URL, auth, limits, safe retries and a redacted exchange log."""

    def __init__(
        self,
        base_url: str,
        *,
        vendor: str,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rate_limit: RateLimit | None = None,
        secrets: Iterable[str] = (),
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 4,
        max_pause: float = 120.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        hourly_quota_header: str | None = None,
        log_size: int = 50,
        rng: random.Random | None = None,
        observe: Observe | None = None,
        retry_wait: RetryWait | None = None,
    ) -> None:
        """`observe` sees every response (also 429s that are retried here), e.g. to read quota headers;
        `retry_wait(response, now)` says how long to wait after a 429 (None: Retry-After, else backoff).
        """
        self.vendor = vendor
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=dict(headers or {}),
            auth=auth,
            timeout=timeout or DEFAULT_TIMEOUT,
            transport=transport,
        )
        self._redact = Redactor(secrets)
        self._sleep = sleep
        self._clock = clock
        self._max_attempts = max(1, max_attempts)
        self._max_pause = max_pause
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._quota_header = hourly_quota_header
        self._observe = observe
        self._retry_wait = retry_wait
        self._rng = rng or random.Random()
        self._limiter: AsyncLimiter | None = None
        self._slots: asyncio.Semaphore | None = None
        if rate_limit is not None:
            self._limiter = _limiter_for(rate_limit.per_second)
            self._slots = asyncio.Semaphore(max(1, rate_limit.max_concurrency))
        self._pause_until = 0.0
        self.exchanges: deque[str] = deque(maxlen=log_size)
        self.request_count = 0

    def __repr__(self) -> str:
        return f"VendorClient({self.vendor!r}, {str(self._client.base_url)!r})"

    @property
    def base_url(self) -> httpx.URL:
        return self._client.base_url

    @property
    def last_exchange(self) -> str:
        return self.exchanges[-1] if self.exchanges else ""

    def add_secret(self, secret: str) -> None:
        """Register a secret learnt later (a session token) for redaction, also in the kept exchanges."""
        self._redact.add(secret)
        for i, text in enumerate(self.exchanges):
            self.exchanges[i] = self._redact(text)

    def redact(self, text: str) -> str:
        return self._redact(text)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: object = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        check: Check | None = None,
        reveals: Reveals | None = None,
        definitive: Callable[[httpx.Response], bool] | None = None,
    ) -> httpx.Response:
        """Send with the retry policy above. Non-429 4xx responses are returned for the vendor code to map.

        `check` validates a 2xx body (raises ValueError when malformed): retried on reads, uncertain
        on creates. `reveals` names the secrets a response carries (a new session token); they are
        registered before the exchange is logged, so the log never holds them. `definitive` marks a
        5xx that is the vendor's considered refusal, made before anything was processed (a SOAP
        Fault for an invalid token): it is returned to the caller, neither retried nor uncertain.
        """
        method = method.upper()
        safe_to_repeat = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        request_headers = dict(headers or {})
        if json is not None:
            content = encode_json(json)
            request_headers.setdefault("Content-Type", "application/json")
        attempt = 0
        while True:
            attempt += 1
            await self._honour_pause()
            try:
                async with self._slot():
                    self.request_count += 1
                    started = time.monotonic()
                    response = await self._client.request(
                        method, url, params=params, content=content, headers=request_headers
                    )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request never left us: repeating it cannot double anything.
                self._record_failure(exc, method, url)
                if attempt < self._max_attempts:
                    await self._backoff(attempt)
                    continue
                raise self._error(
                    TransientError, f"{self.vendor} is niet bereikbaar ({type(exc).__name__})", attempt
                ) from None
            except httpx.TransportError as exc:
                self._record_failure(exc, method, url)
                if not safe_to_repeat:
                    raise self._uncertain(f"de verbinding brak af ({type(exc).__name__})") from None
                if attempt < self._max_attempts:
                    await self._backoff(attempt)
                    continue
                what = (
                    "antwoordt niet op tijd" if isinstance(exc, httpx.TimeoutException) else "is onbereikbaar"
                )
                raise self._error(
                    TransientError, f"{self.vendor} {what} ({type(exc).__name__})", attempt
                ) from None

            hide_body = False
            if reveals is not None:
                try:
                    for secret in reveals(response):
                        self._redact.add(secret)
                except ValueError:
                    # An unreadable success may hold unknown secrets: keep none of it. (A refusal is
                    # scanned too, since some vendors put new tokens in one; unreadable, it is kept.)
                    hide_body = 200 <= response.status_code < 300
            self._record(response, time.monotonic() - started, hide_body=hide_body)
            self._observe_quota(response)
            if self._observe is not None:
                self._observe(response)
            status = response.status_code
            if status == 429:
                wait = None if self._retry_wait is None else self._retry_wait(response, self._clock())
                why = "de limiet van het aantal verzoeken (429)"
                if wait is None and (wait := _retry_after(response, self._clock())) is not None:
                    why = "Retry-After (429)"
                if wait is None:
                    wait = self._backoff_delay(attempt)
                if wait > self._max_pause:
                    self._pause_until = max(self._pause_until, self._clock() + wait)
                    raise self._too_long(wait)
                if attempt < self._max_attempts:
                    await pause(f"{self.vendor}: {why}", wait, self._sleep, self._clock)
                    continue
                raise self._error(
                    TransientError, f"{self.vendor} blijft 'te veel verzoeken' melden (429)", attempt
                )
            if status >= 500 and definitive is not None and definitive(response):
                return response
            if status >= 500:
                if not safe_to_repeat:
                    raise self._uncertain(f"{self.vendor} gaf een serverfout ({status})")
                if attempt < self._max_attempts:
                    await self._backoff(attempt)
                    continue
                raise self._error(TransientError, f"{self.vendor} geeft serverfouten ({status})", attempt)
            if 200 <= status < 300 and check is not None:
                try:
                    check(response)
                except ValueError as exc:
                    if not safe_to_repeat:
                        raise self._uncertain(f"onleesbaar antwoord van {self.vendor}: {exc}") from None
                    if attempt < self._max_attempts:
                        await self._backoff(attempt)
                        continue
                    raise self._error(
                        TransientError, f"{self.vendor} geeft een onleesbaar antwoord: {exc}", attempt
                    ) from None
            return response

    # --- limits and pauses

    @asynccontextmanager
    async def _slot(self) -> Any:
        if self._slots is None or self._limiter is None:
            yield
            return
        async with self._slots:
            await self._limiter.acquire()
            yield

    def _observe_quota(self, response: httpx.Response) -> None:
        """FactuurSturen-style hourly quota: at 0 calls left, pause until the next full hour."""
        if self._quota_header is None or "retry-after" in response.headers:
            return  # an explicit Retry-After is the better-informed wait
        raw = response.headers.get(self._quota_header)
        if raw is None:
            return
        try:
            remaining = int(raw.strip())
        except ValueError:
            return
        if remaining <= 0:
            now = self._clock()
            self._pause_until = max(self._pause_until, now + (3600 - now % 3600))

    async def _honour_pause(self) -> None:
        wait = self._pause_until - self._clock()
        if wait <= 0:
            return
        if wait > self._max_pause:
            raise self._too_long(wait)
        await pause(f"{self.vendor}: de limiet van het aantal verzoeken", wait, self._sleep, self._clock)
        self._pause_until = 0.0

    def _too_long(self, wait: float) -> TransientError:
        resume = time.strftime("%H:%M", time.localtime(self._clock() + wait))
        return TransientError(
            f"{self.vendor}: limiet van het aantal verzoeken bereikt; weer mogelijk rond {resume}",
            advice="De koppeling probeert het bij de volgende run opnieuw; u hoeft niets te doen.",
            code="RATE_LIMIT",
            exchange=self.last_exchange,
        )

    def _backoff_delay(self, attempt: int) -> float:
        delay: float = min(self._backoff_cap, self._backoff_base * 2.0 ** (attempt - 1))
        return delay * (0.5 + self._rng.random() / 2)  # jitter keeps parallel workers apart

    async def _backoff(self, attempt: int) -> None:
        await self._sleep(self._backoff_delay(attempt))

    # --- errors and the exchange log

    def _error(self, cls: type[ConnectorError], message: str, attempts: int) -> ConnectorError:
        return cls(
            f"{message}; {attempts} poging(en)",
            advice="Tijdelijk probleem: de koppeling probeert het later opnieuw.",
            exchange=self.last_exchange,
            origin=Origin.TARGET,
        )

    def _uncertain(self, message: str) -> UncertainError:
        return UncertainError(
            f"{message} nadat het aanmaken was verstuurd; onbekend of het is verwerkt",
            advice="De koppeling zoekt de boeking eerst op voordat ze opnieuw iets verstuurt.",
            code="UNCERTAIN",
            exchange=self.last_exchange,
        )

    def _request_text(self, request: httpx.Request) -> list[str]:
        lines = [f"{request.method} {_masked_url(request.url)}"]
        for name, value in request.headers.multi_items():
            lines.append(f"{name}: {'***' if name.lower() in MASKED_HEADERS else value}")
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = b""
        if body:
            lines.append(_truncate(body))
        return lines

    def _keep(self, text: str) -> None:
        text = self._redact(text)
        self.exchanges.append(text)
        log.debug("%s exchange\n%s", self.vendor, text)

    def _record(self, response: httpx.Response, seconds: float, *, hide_body: bool = False) -> None:
        lines = self._request_text(response.request)
        lines.append(f"→ {response.status_code} {response.reason_phrase} ({seconds * 1000:.0f} ms)")
        for name in ("content-type", "retry-after", "x-ratelimit-remaining"):
            if name in response.headers:
                lines.append(f"{name}: {response.headers[name]}")
        if response.content:
            lines.append(
                f"({len(response.content)} bytes, niet getoond)" if hide_body else _truncate(response.content)
            )
        self._keep("\n".join(lines))

    def _record_failure(self, exc: httpx.TransportError, method: str, url: str) -> None:
        try:
            lines = self._request_text(exc.request)
        except RuntimeError:  # an exception without a request attached
            lines = [f"{method} {url}"]
        lines.append(f"→ {type(exc).__name__}: {exc}")
        self._keep("\n".join(lines))


def _limiter_for(per_second: float) -> AsyncLimiter:
    # aiolimiter wants a whole-ish burst size: below 1/s, spread one call over a longer period.
    if per_second >= 1:
        return AsyncLimiter(per_second, 1.0)
    return AsyncLimiter(1, 1.0 / per_second)


def _retry_after(response: httpx.Response, now: float) -> float | None:
    """Retry-After as seconds (delta or HTTP date); None when absent or unreadable."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(Decimal(raw)))
    except ArithmeticError:
        pass
    try:
        when: float = parsedate_to_datetime(raw).timestamp()
        return max(0.0, when - now)
    except (TypeError, ValueError):
        return None
