"""The relation policy every target shares (connectors.relations), on a target's relations in memory.

The vendor tests show each target's primitives against its simulator; these pin the policy itself:
the order, the VAT-number form, ties, what is remembered in a run, and what reconcile may do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import pytest

from connectors.errors import UncertainError
from connectors.model import BookingLine, InvoiceKind, JournalEntry, Party
from connectors.relations import By, Relation, Relations

SALES, PURCHASE = InvoiceKind.SALES, InvoiceKind.PURCHASE
BAKKERIJ = Party(source_id="42", name="Bakkerij De Vries B.V.", vat_number="NL 0044.95.445.B01")


class Directory:
    """A target's relations: a filter that, like real ones, may return more than matches."""

    def __init__(self, *relations: Relation, per_kind: bool = False, lose_create: bool = False) -> None:
        self.relations: dict[InvoiceKind | None, list[Relation]] = {None: list(relations)}
        self.per_kind = per_kind
        self.lose_create = lose_create  # the create happens, its answer is lost
        self.searches: list[tuple[By, str]] = []
        self.created: list[tuple[str, InvoiceKind, str]] = []

    def _of(self, kind: InvoiceKind) -> list[Relation]:
        return self.relations.setdefault(kind if self.per_kind else None, [])

    async def search(self, by: By, value: str, kind: InvoiceKind) -> Sequence[Relation]:
        self.searches.append((by, value))
        await asyncio.sleep(0)  # a request: let concurrent callers interleave
        return list(self._of(kind))  # the whole list: the policy must compare itself

    async def create(self, party: Party, kind: InvoiceKind, code: str) -> str | None:
        self.created.append((party.name, kind, code))
        await asyncio.sleep(0)
        new = Relation(id=f"r{sum(len(v) for v in self.relations.values()) + 1}", code=code, name=party.name)
        self._of(kind).append(new)
        return None if self.lose_create else new.id

    def kit(self, *, name_limit: int | None = None) -> Relations:
        return Relations(
            self.search, self.create, exchange=lambda: "", per_kind=self.per_kind, name_limit=name_limit
        )


def entry(party: Party = BAKKERIJ, kind: InvoiceKind = PURCHASE) -> JournalEntry:
    line = BookingLine(
        account_code="4000",
        vat_code="21",
        vat_rate=Decimal(21),
        net_amount=Decimal(10),
        vat_amount=Decimal("2.10"),
    )
    return JournalEntry(
        reference="ubl:1",
        kind=kind,
        date=date(2026, 1, 5),
        invoice_number="2026-001",
        description="Inkoop",
        relation=party,
        lines=(line,),
    )


async def test_our_code_wins_over_vat_number_and_name() -> None:
    book = Directory(
        Relation("by-name", code="1006", name="Bakkerij De Vries B.V."),
        Relation("by-vat", code="1007", vat_number="NL004495445B01"),
        Relation("by-code", code="FS42", name="De Vries (oud)"),
    )
    assert await book.kit().ensure(BAKKERIJ, SALES, "FS42") == "by-code"
    assert book.searches == [(By.CODE, "FS42")] and book.created == []


async def test_then_the_vat_number_in_any_written_form() -> None:
    book = Directory(
        Relation("by-name", code="1006", name="Bakkerij De Vries B.V."),
        Relation("by-vat", code="1007", name="Bakkerij de Vries", vat_number="004495445b01"),
    )
    assert await book.kit().ensure(BAKKERIJ, SALES, "FS42") == "by-vat"
    # The target's filter gets the one comparison form; the target sends it as it must.
    assert book.searches == [(By.CODE, "FS42"), (By.VAT_NUMBER, "NL004495445B01")]


async def test_then_the_exact_name_when_only_one_relation_has_it() -> None:
    book = Directory(
        Relation("similar", name="Bakkerij De Vries Utrecht B.V."),
        Relation("other-vat", name="Bakkerij De Vries", vat_number="NL810433941B01"),
        Relation("by-name", name=" bakkerij de vries b.v. "),
    )
    assert await book.kit().ensure(BAKKERIJ, SALES, "FS42") == "by-name"
    assert [by for by, _ in book.searches] == [By.CODE, By.VAT_NUMBER, By.NAME]


async def test_a_name_two_relations_share_is_nobodys_so_ours_is_created() -> None:
    book = Directory(
        Relation("a", name="Bakkerij De Vries B.V."), Relation("b", name="Bakkerij De Vries B.V.")
    )
    relation = await book.kit().ensure(BAKKERIJ, SALES, "FS42")
    assert relation not in ("a", "b") and book.created == [("Bakkerij De Vries B.V.", SALES, "FS42")]


async def test_an_invalid_vat_number_is_not_searched_for() -> None:
    book = Directory()
    party = BAKKERIJ.model_copy(update={"vat_number": "volgt nog"})
    await book.kit().ensure(party, SALES, "FS42")
    assert [by for by, _ in book.searches] == [By.CODE, By.NAME]


async def test_names_are_compared_as_far_as_the_target_keeps_them() -> None:
    long_name = "Coöperatieve Bakkerij en Banketbakkerij De Vries en Zonen Oudewater B.V."
    book = Directory(Relation("kept", name=long_name[:50]))
    party = Party(source_id="43", name=long_name)
    assert await book.kit(name_limit=50).ensure(party, SALES, "FS43") == "kept"


async def test_a_relation_is_looked_up_once_per_run_and_created_once_even_when_asked_at_once() -> None:
    book = Directory()
    kit = book.kit()
    ids = await asyncio.gather(*(kit.ensure(BAKKERIJ, SALES, "FS42") for _ in range(3)))
    assert len(set(ids)) == 1 and len(book.created) == 1
    searched = len(book.searches)
    assert await kit.ensure(BAKKERIJ, SALES, "FS42") == ids[0]
    assert len(book.searches) == searched


async def test_a_create_whose_answer_was_lost_is_found_by_our_code() -> None:
    book = Directory(lose_create=True)
    relation = await book.kit().ensure(BAKKERIJ, SALES, "FS42")
    assert relation == "r1" and len(book.created) == 1
    assert book.searches[-1] == (By.CODE, "FS42")


async def test_a_create_that_cannot_be_found_afterwards_is_uncertain() -> None:
    book = Directory(lose_create=True)

    async def nowhere(party: Party, kind: InvoiceKind, code: str) -> str | None:
        book.created.append((party.name, kind, code))
        return None  # neither an id nor a relation to find

    kit = Relations(book.search, nowhere, exchange=lambda: "POST /relation → (geen antwoord)")
    with pytest.raises(UncertainError) as caught:
        await kit.ensure(BAKKERIJ, SALES, "FS42")
    assert "FS42" in caught.value.message and caught.value.exchange.startswith("POST")


async def test_debtor_and_creditor_are_separate_where_the_target_keeps_them_apart() -> None:
    book = Directory(per_kind=True)
    kit = book.kit()
    debtor = await kit.ensure(BAKKERIJ, SALES, "FS42")
    creditor = await kit.ensure(BAKKERIJ, PURCHASE, "FS42")
    assert debtor != creditor and [kind for _, kind, _ in book.created] == [SALES, PURCHASE]


async def test_find_never_creates_and_goes_by_vat_number_or_name() -> None:
    book = Directory(Relation("by-vat", code="FS42", vat_number="NL004495445B01"))
    kit = book.kit()
    assert await kit.find(BAKKERIJ, PURCHASE) == "by-vat"
    assert await kit.find(Party(source_id="9", name="Onbekend"), PURCHASE) is None
    assert book.created == [] and By.CODE not in [by for by, _ in book.searches]


async def test_narrow_keeps_the_bookings_of_our_relation_found_without_creating() -> None:
    book = Directory(Relation("ours", name="Bakkerij De Vries B.V."), Relation("theirs", name="Meelhandel"))
    bookings = [("m1", "THEIRS"), ("m2", "ours")]
    narrowed = await book.kit().narrow(bookings, lambda b: b[1], entry(), None)
    assert narrowed == [("m2", "ours")] and book.created == []


async def test_narrow_with_the_engines_relation_id_looks_nothing_up() -> None:
    book = Directory()
    kit = book.kit()
    assert await kit.narrow([("m1", "theirs")], lambda b: b[1], entry(), "ours") == []
    assert book.searches == []


async def test_narrow_leaves_bookings_alone_when_our_relation_cannot_be_found() -> None:
    book = Directory(Relation("someone", name="Meelhandel"))
    bookings = [("m1", "someone"), ("m2", "else")]
    assert await book.kit().narrow(bookings, lambda b: b[1], entry(), None) == bookings


async def test_narrow_costs_nothing_when_there_is_no_booking() -> None:
    book = Directory()
    assert await book.kit().narrow([], lambda b: b, entry(), None) == []
    assert book.searches == []


async def test_narrow_compares_what_bookings_carry_when_that_is_not_the_id() -> None:
    book = Directory()

    async def code_of(relation_id: str) -> str:
        return {"17": "CRED0042"}[relation_id]

    bookings = [("m1", "CRED0007"), ("m2", "CRED0042")]
    assert await book.kit().narrow(bookings, lambda b: b[1], entry(), "17", booked_as=code_of) == [
        ("m2", "CRED0042")
    ]
