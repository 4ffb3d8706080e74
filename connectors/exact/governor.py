"""Exact Online's limits, read from its headers: minutely and daily calls per app and division, and the
error budget (10 error responses per endpoint per hour block the key; we stop well before that)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable

import httpx

from connectors.errors import TransientError
from connectors.http import pause

COUNTED = frozenset({400, 401, 403, 404})
ERROR_BUDGET = 8  # Exact blocks at 10 per hour; the sheet: stop at 8
HOUR = 3600.0


def _epoch_ms(raw: str | None) -> float | None:
    """`X-RateLimit-*-Reset` is UTC epoch milliseconds (the old .NET SDK's seconds are outdated)."""
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value / 1000.0 if value > 1e11 else value  # tolerate seconds, should they ever appear


def _int(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None


class Governor:
    """One per division. `observe` every response; `before(endpoint)` before every request."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        error_budget: int = ERROR_BUDGET,
        max_pause: float = 120.0,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self.error_budget = error_budget
        self.max_pause = max_pause
        self.minutely_remaining: int | None = None
        self.minutely_reset: float | None = None
        self.daily_remaining: int | None = None
        self.daily_reset: float | None = None
        self.daily_limit: int | None = None
        self._errors: dict[str, deque[float]] = {}

    def observe(self, response: httpx.Response) -> None:
        h = response.headers
        # A minutely 429 carries only the minutely headers: absent daily headers are not "0 left".
        if "x-ratelimit-minutely-remaining" in h:
            self.minutely_remaining = _int(h.get("x-ratelimit-minutely-remaining"))
            self.minutely_reset = _epoch_ms(h.get("x-ratelimit-minutely-reset"))
        if "x-ratelimit-remaining" in h:
            self.daily_remaining = _int(h.get("x-ratelimit-remaining"))
            self.daily_reset = _epoch_ms(h.get("x-ratelimit-reset"))
            self.daily_limit = _int(h.get("x-ratelimit-limit"))

    def retry_wait(self, response: httpx.Response, now: float) -> float | None:
        """After a 429: until the reset it names (a daily one is far away: the caller gives up)."""
        h = response.headers
        if _int(h.get("x-ratelimit-remaining")) == 0:
            reset = _epoch_ms(h.get("x-ratelimit-reset"))
            return max(1.0, reset - now) if reset is not None else 86400.0
        reset = _epoch_ms(h.get("x-ratelimit-minutely-reset"))
        if reset is not None:
            return max(0.5, reset - now + 0.5)  # one report: the window behaved like ~2 minutes
        return None

    def count(self, endpoint: str, response: httpx.Response) -> None:
        if response.status_code in COUNTED:
            self._errors.setdefault(endpoint, deque()).append(self._clock())

    def errors_this_hour(self, endpoint: str) -> int:
        times = self._errors.get(endpoint)
        if not times:
            return 0
        cutoff = self._clock() - HOUR
        while times and times[0] <= cutoff:
            times.popleft()
        return len(times)

    async def before(self, endpoint: str) -> None:
        """Refuse when the error budget is spent; wait for the minute's reset when it is used up."""
        now = self._clock()
        if self.errors_this_hour(endpoint) >= self.error_budget:
            times = self._errors[endpoint]
            resume = time.strftime("%H:%M", time.localtime(times[0] + HOUR))
            raise TransientError(
                f"Exact Online: {self.error_budget} foutmeldingen van {endpoint} in het afgelopen uur; "
                f"Koppelaar stopt met dit onderdeel tot {resume}, zodat Exact de koppeling niet blokkeert "
                "(Exact blokkeert na 10 fouten per uur)",
                advice="Bekijk de eerdere foutmeldingen van deze koppeling en los de oorzaak op; de koppeling "
                "gaat daarna bij de volgende run verder.",
                code="ERROR_BUDGET",
            )
        if self.daily_remaining == 0 and self.daily_reset is not None and now < self.daily_reset:
            resume = time.strftime("%d-%m %H:%M", time.localtime(self.daily_reset))
            raise TransientError(
                f"Exact Online: de daglimiet van {self.daily_limit or 'alle'} verzoeken voor deze administratie "
                f"is bereikt; weer mogelijk vanaf {resume}",
                advice="De koppeling gaat bij de volgende run verder; u hoeft niets te doen.",
                code="RATE_LIMIT_DAY",
            )
        reset = self.minutely_reset
        if self.minutely_remaining is not None and self.minutely_remaining <= 0 and reset:
            wait = reset - now
            if wait > 0:
                if wait > self.max_pause or self._sleep is None:
                    raise TransientError(
                        "Exact Online: de minuutlimiet is bereikt", code="RATE_LIMIT", advice="Tijdelijk."
                    )
                why = "Exact Online: de minuutlimiet (X-RateLimit-Minutely-Reset)"
                await pause(why, wait + 0.5, self._sleep, self._clock)
            # A new window: the next response tells us again. Unless a response during the wait already
            # named a later reset (another worker's 429): that 'none left' still holds.
            if self.minutely_reset == reset:
                self.minutely_remaining = None
