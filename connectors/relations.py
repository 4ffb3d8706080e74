"""How every target finds its relation (debtor/creditor) for a party: one policy, vendor primitives.

The order: our relation code, then the VAT number (compared in `vatnumber`'s form), then the exact
name (only when one relation has it), else create. Reconcile only looks (`find`), never creates. A
target supplies two primitives: `search` (its filter, or its whole list: the policy compares itself)
and `create`. What was found or created is remembered for the run, so a relation costs its lookups
once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from connectors import vatnumber
from connectors.errors import UncertainError
from connectors.model import InvoiceKind, JournalEntry, Party

T = TypeVar("T")


class By(StrEnum):
    CODE = "code"
    VAT_NUMBER = "vat_number"
    NAME = "name"


@dataclass(frozen=True)
class Relation:
    """A relation as the target shows it; `vat_number` in whatever form the target keeps."""

    id: str
    code: str = ""
    name: str = ""
    vat_number: str = ""


# search(by, value, kind): relations that may match (a superset is fine). By.VAT_NUMBER gets the
# normalised number; the target sends it in its own wire form.
Search = Callable[[By, str, InvoiceKind], Awaitable[Sequence[Relation]]]
# create(party, kind, code): the new relation's id, or None when unsure it was created (or the code
# exists already): the policy then looks it up.
Create = Callable[[Party, InvoiceKind, str], Awaitable[str | None]]


def _text(value: str) -> str:
    return value.strip().casefold()


class Relations:
    """One target's relations for one run."""

    def __init__(
        self,
        search: Search,
        create: Create,
        *,
        exchange: Callable[[], str],
        per_kind: bool = False,
        name_limit: int | None = None,
    ) -> None:
        """`per_kind`: debtors and creditors are separate relations (Twinfield's DEB/CRD).
        `name_limit`: the target truncates names to this many characters (so compare that much)."""
        self._search = search
        self._create = create
        self._exchange = exchange
        self._per_kind = per_kind
        self._name_limit = name_limit
        self._by_code: dict[tuple[InvoiceKind | None, str], str] = {}
        self._by_party: dict[tuple[InvoiceKind | None, str], str] = {}
        self._locks: dict[tuple[InvoiceKind | None, str], asyncio.Lock] = {}

    def _scope(self, kind: InvoiceKind) -> InvoiceKind | None:
        return kind if self._per_kind else None

    def remember(self, party: Party, kind: InvoiceKind, relation_id: str) -> None:
        """The party's relation as the engine resolved it (e.g. handed to create_booking)."""
        self._by_party[self._scope(kind), party.source_id] = relation_id

    async def ensure(self, party: Party, kind: InvoiceKind, code: str) -> str:
        """The relation for `party` under our `code`: found, else created (once, even when asked twice
        at the same time)."""
        key = (self._scope(kind), code)
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key not in self._by_code:
                found = await self._lookup(party, kind, code)
                if found is None:
                    found = await self._create(party, kind, code) or await self._lookup(party, kind, code)
                if found is None:
                    raise UncertainError(
                        f"Relatie {code} ({party.name}) is misschien aangemaakt, maar is niet terug te vinden",
                        advice="De koppeling zoekt de relatie bij de volgende run opnieuw op.",
                        code="UNCERTAIN",
                        exchange=self._exchange(),
                    )
                self._by_code[key] = found
        self.remember(party, kind, self._by_code[key])
        return self._by_code[key]

    async def find(self, party: Party, kind: InvoiceKind) -> str | None:
        """The party's relation when the target has it; never creates. Without our code (reconcile
        does not know it) by VAT number or name."""
        key = (self._scope(kind), party.source_id)
        if key not in self._by_party:
            found = await self._lookup(party, kind, "")
            if found is None:
                return None
            self._by_party[key] = found
        return self._by_party[key]

    async def narrow(
        self,
        bookings: list[T],
        relation_of: Callable[[T], str],
        entry: JournalEntry,
        relation_id: str | None,
        *,
        booked_as: Callable[[str], Awaitable[str]] | None = None,
    ) -> list[T]:
        """Of the bookings carrying the entry's invoice number, those of its relation.

        Purchase invoice numbers are unique per supplier only. The relation is the engine's, else
        found (never created). When it cannot be found nothing is narrowed: a booking we cannot place
        is better left ambiguous (looked at by a person) than taken for another supplier's or missed.
        `booked_as` turns the relation id into what `relation_of` gives, where bookings do not carry
        the id (SOAP books by relation code).
        """
        if not bookings:
            return bookings
        relation = relation_id or await self.find(entry.relation, entry.kind)
        if relation is None:
            return bookings
        self.remember(entry.relation, entry.kind, relation)
        on_booking = _text(await booked_as(relation) if booked_as is not None else relation)
        return [b for b in bookings if _text(relation_of(b)) == on_booking]

    async def _lookup(self, party: Party, kind: InvoiceKind, code: str) -> str | None:
        if code:
            by_code = [r for r in await self._search(By.CODE, code, kind) if _text(r.code) == _text(code)]
            if by_code:
                return by_code[0].id
        vat_number = vatnumber.normalise(party.vat_number, party.country)
        if vat_number:
            # One VAT number is one business: any of its relations will do, the target's first.
            by_vat = [
                r
                for r in await self._search(By.VAT_NUMBER, vat_number, kind)
                if vatnumber.normalise(r.vat_number, party.country) == vat_number
            ]
            if by_vat:
                return by_vat[0].id
        name = party.name[: self._name_limit].strip()
        if not name:
            return None
        by_name = [r for r in await self._search(By.NAME, name, kind) if _text(r.name) == _text(name)]
        # Two relations of one name may be two businesses: then neither, rather than the wrong one.
        return by_name[0].id if len(by_name) == 1 else None
