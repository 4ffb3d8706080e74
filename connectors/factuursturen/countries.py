"""FactuurSturen's `countrylist` (numeric id + Dutch name, no ISO code) turned into ISO 3166 codes.

The vendor publishes no ISO field, so the Dutch name is matched against CLDR's Dutch territory names
(babel), which are maintained upstream rather than by us.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from functools import cache

from babel import Locale


def _key(name: str) -> str:
    """Case, accents and spacing do not decide a match ("Belgie" is "België")."""
    plain = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split())


@cache
def _dutch_names() -> dict[str, str]:
    return {
        _key(name): code
        for code, name in Locale("nl").territories.items()
        if len(code) == 2 and code.isalpha()  # skip regions such as "150" (Europa)
    }


def iso_code(dutch_name: str) -> str | None:
    """ISO 3166-1 alpha-2 code for a Dutch country name, or None when CLDR does not know it."""
    return _dutch_names().get(_key(dutch_name))


def names_by_id(found: object) -> dict[str, str]:
    """`countrylist` as served (a list of `{"id", "name"}`) → {id: Dutch name}."""
    items = found.get("countrylist", []) if isinstance(found, Mapping) else found
    result: dict[str, str] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and str(item.get("id") or "").strip():
            result[str(item["id"]).strip()] = str(item.get("name") or "").strip()
    return result
