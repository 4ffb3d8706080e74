"""What a connector promises. The engine only uses what a connector declares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from connectors.errors import AuthError, ConnectorError, RejectedError
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

    @classmethod
    def failed(cls, exc: ConnectorError) -> CheckResult:
        """What a connector error during a check means: refused login, refused setting, or unreachable."""
        if isinstance(exc, AuthError):
            return cls(Health.AUTH_FAILED, exc.message, exc.advice)
        if isinstance(exc, RejectedError):
            return cls(Health.MISCONFIGURED, exc.message, exc.advice)
        return cls(Health.UNREACHABLE, exc.message, exc.advice)


@dataclass(frozen=True)
class SourceProblem:
    """A source record we could read but not understand: parked as a foutmelding, never dropped."""

    record_id: str
    message: str
    field: str = ""
    raw_excerpt: str = ""
    advice: str = ""  # what to do, where the source knows better than "correct it in the source"


class Stream(StrEnum):
    """The kinds of record a source can offer, each read since its own cursor."""

    INVOICES = "invoices"
    DOCUMENTS = "documents"
    ACCOUNTS = "accounts"
    BALANCES = "balances"
    ENTRIES = "entries"


# What a record of a stream carries once understood; grows into a union as streams get implemented.
Payload = Invoice


@dataclass(frozen=True)
class SourceRecord:
    """One record of a stream. `cursor_key` sorts like the source's incremental filter.

    `record_id` is unique within the source (all its streams and partitions): the outbox reference is
    `{system}:{record_id}`.
    """

    stream: Stream
    record_id: str
    cursor_key: str
    payload: Payload | None = None
    problem: SourceProblem | None = None


class RecordOutcome(StrEnum):
    """What became of a source record, as far as Koppelaar is concerned."""

    BOOKED = "booked"
    PARKED = "parked"  # a foutmelding: unreadable, unmapped, or refused by the target
    SKIPPED = "skipped"  # nothing to book (a zero invoice, before the koppeling's start date)


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


# One create's verdict: the booking, or the error for that entry alone.
CreateOutcome = CreateResult | ConnectorError


def _nothing_known(record_id: str) -> bool:
    return False


@runtime_checkable
class Source(Protocol):
    system: str
    streams: frozenset[Stream]  # what this source offers

    async def check(self) -> CheckResult: ...

    async def partitions(self, stream: Stream) -> Sequence[str]:
        """The partitions a stream is read in, each with its own cursor (e.g. one per company)."""
        ...

    def read(
        self,
        stream: Stream,
        partition: str,
        cursor: str | None,
        known: Callable[[str], bool] = _nothing_known,
    ) -> AsyncIterator[list[SourceRecord]]:
        """Pages of the stream's records whose cursor_key >= cursor (inclusive: the engine de-duplicates).

        A record for which `known(record_id)` holds comes back bare (no payload, no problem): the
        engine has it already, so the source need not parse or enrich it (no extra requests).
        """
        ...

    async def settled(self, stream: Stream, partition: str, record_id: str, outcome: RecordOutcome) -> None:
        """Told when a record's outcome becomes final; again when a retry settles a parked record anew."""
        ...

    async def aclose(self) -> None: ...


class SourceBase:
    """What most sources need not do: one partition per stream, and no interest in outcomes."""

    async def partitions(self, stream: Stream) -> Sequence[str]:
        return ("",)

    async def settled(self, stream: Stream, partition: str, record_id: str, outcome: RecordOutcome) -> None:
        return None


@runtime_checkable
class BookingTarget(Protocol):
    system: str
    rate_limit: RateLimit
    batch_size: int  # entries per create_bookings call the engine gathers

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

    async def create_bookings(self, items: Sequence[tuple[JournalEntry, str]]) -> list[CreateOutcome]:
        """One outcome per (entry, relation id), in order; a refused entry does not stop the others.

        When the call as a whole fails, every entry in it gets that error: UncertainError (look up
        before re-posting), TransientError/AuthError (not processed: send again later)."""
        ...

    carries_attachments: bool  # can take a booking's file (the invoice PDF) at all

    # Whether `attach` is safe to call again after a crash that may have left it half done (it looks
    # up what is there first); if not, the engine asks a person to check rather than attach twice.
    attach_looks_up: bool

    async def attach(self, remote_id: str, entry: JournalEntry, relation_id: str) -> None:
        """Put `entry.attachments` (with content) on the booking `remote_id` of relation `relation_id`;
        does nothing where the target cannot carry a file. Raises ConnectorError when it fails: the
        booking stands."""
        ...

    async def aclose(self) -> None: ...


class BookingTargetBase(ABC):
    """Batching for a target that books one entry per request: `create_bookings` one by one."""

    batch_size = 1
    carries_attachments = False
    attach_looks_up = True  # nothing to look up where nothing is attached

    async def attach(self, remote_id: str, entry: JournalEntry, relation_id: str) -> None:
        """Most targets cannot carry a file with a booking (README: per target); the PDF stays at the source."""
        return None

    @abstractmethod
    async def create_booking(self, entry: JournalEntry, relation_id: str) -> CreateResult: ...

    async def create_bookings(self, items: Sequence[tuple[JournalEntry, str]]) -> list[CreateOutcome]:
        outcomes: list[CreateOutcome] = []
        for entry, relation_id in items:
            refused = next((o for o in outcomes if isinstance(o, AuthError)), None)
            if refused is not None:  # the rest would be refused too: not sent, so they may go again
                outcomes.append(refused)
                continue
            try:
                outcomes.append(await self.create_booking(entry, relation_id))
            except ConnectorError as exc:
                outcomes.append(exc)
        return outcomes
