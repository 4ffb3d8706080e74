"""Exact money: Decimal amounts quantized per ISO 4217 currency, rounded half-up."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from babel.numbers import get_currency_precision

ZERO = Decimal("0")


@cache
def _exponent(currency: str) -> Decimal:
    return Decimal(1).scaleb(-get_currency_precision(currency))


def quantize(amount: Decimal, currency: str = "EUR") -> Decimal:
    """Round to the currency's minor unit (cents for EUR), half-up as Dutch bookkeeping does."""
    return amount.quantize(_exponent(currency), rounding=ROUND_HALF_UP)


def parse_amount(value: object, *, field: str) -> Decimal:
    """Parse an amount that a vendor may send as a number or as a string; never via float."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected an amount, got a boolean")
    if isinstance(value, float):
        # JSON numbers arrive as float from the json module; repr gives the shortest exact decimal.
        value = repr(value)
    if isinstance(value, int | str | Decimal):
        text = str(value).strip().replace(",", ".") if isinstance(value, str) else value
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{field}: {value!r} is not an amount") from None
        if not result.is_finite():
            raise ValueError(f"{field}: {value!r} is not an amount")
        return result
    raise ValueError(f"{field}: expected an amount, got {type(value).__name__}")


def vat_of(net: Decimal, rate_percent: Decimal, currency: str = "EUR") -> Decimal:
    return quantize(net * rate_percent / Decimal(100), currency)
