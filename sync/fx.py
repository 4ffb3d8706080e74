"""ECB reference rates, offline: the rate published on the invoice date or the last business day before."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import cache

from currency_converter import CurrencyConverter, RateNotFoundError

# ECB does not publish on weekends and TARGET holidays; the longest gap (Easter) is four days.
_LOOKBACK_DAYS = 7


class RateUnavailable(LookupError):
    pass


@cache
def _bundled() -> CurrencyConverter:
    # Loading the bundled history takes a third of a second: pay it once, and only for a foreign invoice.
    return CurrencyConverter(fallback_on_missing_rate=False, fallback_on_wrong_date=False)


class EcbRates:
    """Rates from the ECB history bundled with the `currencyconverter` package (no network)."""

    @property
    def _converter(self) -> CurrencyConverter:
        return _bundled()

    def rate(self, currency: str, on: date) -> tuple[Decimal, date]:
        """Units of `currency` per 1 EUR, and the ECB publication date the rate is from."""
        if currency not in self._converter.currencies:
            raise RateUnavailable(f"de ECB publiceert geen koers voor {currency}")
        for back in range(_LOOKBACK_DAYS + 1):
            day = on - timedelta(days=back)
            try:
                value = self._converter.convert(1, "EUR", currency, date=day)
            except RateNotFoundError:
                continue
            # The ECB publishes at most 4 decimals / 5 significant digits; repr recovers them without loss.
            return Decimal(repr(value)), day
        last = self._converter.bounds[currency].last_date
        raise RateUnavailable(
            f"geen ECB-koers voor {currency} op of kort voor {on.isoformat()}"
            f" (de meegeleverde koersen lopen tot {last.isoformat()}; werk Koppelaar bij)"
        )
