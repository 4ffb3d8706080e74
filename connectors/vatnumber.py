"""One form to compare VAT numbers in, whatever form a source or a target keeps them in.

Sources and bookkeepers write the same number many ways ("NL 0044.95.445.B01", "004495445b01",
"BE 0403.170.701", "403170701"); a relation is found by its number only when both sides are brought to
one form first. Which form a vendor wants on the wire stays that vendor's choice.
"""

from __future__ import annotations

from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError

# ISO 3166 country → the EU VAT prefix where they differ.
PREFIX = {"GR": "EL"}


def normalise(number: str, country: str = "") -> str:
    """The number compacted with its country prefix ("NL004495445B01"), or "" when it is no valid EU
    VAT number. `country` (ISO, e.g. the party's) prefixes a number written without one."""
    number = number.strip()
    if not number:
        return ""
    candidates = [number]
    if not number[:2].isalpha() and country:
        country = country.strip().upper()
        candidates.append(PREFIX.get(country, country) + number)
    for candidate in candidates:
        try:
            return str(eu_vat.validate(candidate))
        except ValidationError:
            continue
    return ""
