"""What a connector promises. The engine only uses what a connector declares."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from connectors.model import (
    Administratie,
    CostCenter,
    Invoice,
    InvoiceKind,
    Journal,
    JournalEntry,
    LedgerAccount,
    Party,
    VatCode,
)


class Health(StrEnum):
    OK = "ok"
    AUTH_FAILED = "auth_failed"
    UNREACHABLE = "unreachable"
    NOT_ENABLED = "not_enabled"
    MISCONFIGURED = "misconfigured"


@dataclass(frozen=True)
class CheckResult:
    health: Health
    reason: str  # human, in Dutch: why the connection is (not) usable
    advice: str = ""

    @property
    def ok(self) -> bool:
        return self.health is Health.OK


@dataclass(frozen=True)
class SourceProblem:
    """A source record we could read but not understand: parked as a foutmelding, never dropped."""

    record_id: str
    message: str
    field: str = ""
    raw_excerpt: str = ""


@dataclass(frozen=True)
class SourceRecord:
    """One record from a source. `cursor_key` sorts like the source's incremental filter."""

    record_id: str
    cursor_key: str
    invoice: Invoice | None = None
    problem: SourceProblem | None = None


@dataclass(frozen=True)
class RateLimit:
    """A target's ceiling. The engine sizes its concurrency from this and the observed latency."""

    per_second: float
    max_concurrency: int = 1


@dataclass(frozen=True)
class RemoteBooking:
    remote_id: str
    invoice_number: str
    gross: Decimal | None = None


@dataclass(frozen=True)
class CreateResult:
    remote_id: str
    already_existed: bool = False  # the target said "duplicate" and the lookup found ours


def _nothing_known(record_id: str) -> bool:
    return False


@runtime_checkable
class InvoiceSource(Protocol):
    system: str

    async def check(self) -> CheckResult: ...

    def invoices_since(
        self, cursor: str | None, known: Callable[[str], bool] = _nothing_known
    ) -> AsyncIterator[list[SourceRecord]]:
        """Pages of records whose cursor_key >= cursor (inclusive: the engine de-duplicates).

        A record for which `known(record_id)` holds comes back bare (no invoice, no problem): the
        engine has it already, so the source need not parse or enrich it (no extra requests).
        """
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class BookingTarget(Protocol):
    system: str
    rate_limit: RateLimit

    async def check(self) -> CheckResult: ...

    async def administraties(self) -> list[Administratie]: ...

    async def ledger_accounts(self) -> list[LedgerAccount]: ...

    async def vat_codes(self) -> list[VatCode]: ...

    async def cost_centers(self) -> list[CostCenter]:
        """The administratie's kostenplaatsen, for the mapping editor."""
        ...

    async def journals(self) -> list[Journal]:
        """Dagboeken that take sales or purchase invoices; empty where the target has none."""
        ...

    def default_vat_code(self, kind: InvoiceKind, rate: Decimal, reverse_charge: bool) -> str | None:
        """The vendor's obvious VAT code for a rate, offered as the mapping default."""
        ...

    async def find_booking(self, entry: JournalEntry, relation_id: str | None = None) -> RemoteBooking | None:
        """Our booking of `entry` when the target has it (looked up before anything is posted again).

        Invoice numbers may repeat across relations (purchase numbers are unique per supplier), so a
        booking is ours only with our relation: `relation_id` when the engine knows it, else the
        target finds it (connectors.relations: never creates).
        """
        ...

    async def ensure_relation(self, party: Party, kind: InvoiceKind, code: str) -> str:
        """The target's relation id for this party: found by `code`, VAT number or name, else created."""
        ...

    async def create_booking(self, entry: JournalEntry, relation_id: str) -> CreateResult: ...

    async def aclose(self) -> None: ...
