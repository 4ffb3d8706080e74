"""A folder of UBL e-invoices as a source of purchase invoices.

An access point (or a person) drops files into the folder. A run reads every file that has been still
for a while, one page at a time (memory stays flat however full the folder is). When the engine settles
a record the file moves, with os.replace inside the folder's own file system (so never half-moved):
booked → `archief/<jjjj>/<mm>/`, refused or unreadable → `quarantaine/` with a `.reden.txt` beside it.
Nothing is deleted. A file killed between booking and moving stays in the inbox; the engine knows it is
booked and says so again on the next run, and only then is it moved.

A document is known by its supplier and invoice number, so the same invoice dropped twice (or the same
file) is one record and booked once: a copy read in the same run moves with the first copy's outcome, a
copy that arrives later is archived when the engine says that record is booked already. An unreadable
file is known by its content hash.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from connectors.contract import (
    CheckResult,
    Health,
    RecordOutcome,
    SourceBase,
    SourceProblem,
    SourceRecord,
    Stream,
)
from connectors.errors import ConnectorError, Origin
from connectors.ubl.parse import SIZE_LIMIT, UblProblem, parse_document

ARCHIVE = "archief"
QUARANTINE = "quarantaine"
REASON_SUFFIX = ".reden.txt"
# Names a copying program uses while a file is still being written; never read.
_UNFINISHED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", "~")


@dataclass(frozen=True)
class _Waiting:
    cursor_key: str
    path: Path


class UblInbox(SourceBase):
    """Purchase invoices from a folder of UBL files (Peppol BIS 3, SI-UBL 2.0, UBL.BE)."""

    system = "ubl-inbox"
    streams = frozenset({Stream.INVOICES})

    def __init__(
        self,
        folder: Path | str,
        *,
        settle_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        page_size: int = 50,
        size_limit: int = SIZE_LIMIT,
    ) -> None:
        self.folder = Path(folder)
        self.settle_seconds = settle_seconds
        self.clock = clock
        self.page_size = page_size
        self.size_limit = size_limit
        # What this run read and has not yet settled, by record id: the files the outcome applies to. A
        # second copy of the same document (dropped twice) is kept here, not handed to the engine again.
        self._read: dict[str, list[Path]] = {}
        self._reasons: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"UblInbox({str(self.folder)!r})"

    async def aclose(self) -> None:
        return None

    async def check(self) -> CheckResult:
        problem = folder_problem(self.folder)
        if problem:
            return CheckResult(
                Health.MISCONFIGURED,
                problem,
                "Kies onder Verbindingen een bestaande map waarin Koppelaar mag schrijven.",
            )
        return CheckResult(
            Health.OK, f"Inbox {self.folder}: {waiting_count(self.folder)} document(en) wachten"
        )

    # --- reading

    async def read(
        self,
        stream: Stream,
        partition: str,
        cursor: str | None,
        known: Callable[[str], bool] = lambda record_id: False,
    ) -> AsyncIterator[list[SourceRecord]]:
        """Every settled file in the inbox, oldest arrival first, in pages.

        The cursor is not a filter here: a file still in the inbox is not yet settled, whatever its age
        (one put back from quarantaine keeps its old time). Known records come back with their payload,
        so the engine can tell a put-back file (map again) from a booked one (archive it)."""
        if stream not in self.streams or partition:
            raise ValueError(f"De UBL-inbox biedt geen stroom {stream!r} (deel {partition!r})")
        if problem := folder_problem(self.folder):
            raise ConnectorError(
                problem, advice="Controleer de map van de inbox onder Verbindingen.", origin=Origin.SOURCE
            )
        page: list[SourceRecord] = []
        for waiting in sorted(self._waiting(), key=lambda w: w.cursor_key):
            record = self._record(waiting)
            if record is None:
                continue
            page.append(record)
            if len(page) >= self.page_size:
                yield page
                page = []
        if page:
            yield page

    def _waiting(self) -> Iterator[_Waiting]:
        """Inbox files that stood still long enough; the directory is iterated, never listed whole."""
        now = self.clock()
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if not entry.is_file(follow_symlinks=False) or _unfinished_name(entry.name):
                    continue
                stat = entry.stat(follow_symlinks=False)
                # ctime moves when a file is renamed into the folder: its arrival, also for a moved file.
                arrived = max(stat.st_mtime_ns, stat.st_ctime_ns)
                if now - stat.st_mtime < self.settle_seconds:
                    continue  # still being written (or just copied): the next run reads it
                stamp = datetime.fromtimestamp(arrived / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                yield _Waiting(f"{stamp}/{entry.name}", Path(entry.path))

    def _record(self, waiting: _Waiting) -> SourceRecord | None:
        path = waiting.path
        try:
            size = path.stat().st_size
            if size > self.size_limit:
                digest = _file_hash(path)
                return self._problem(
                    waiting,
                    f"bestand:{digest[:16]}",
                    "/",
                    f"{path.name}: {size:,} bytes is groter dan de grens van {self.size_limit:,} bytes".replace(
                        ",", "."
                    ),
                    "Een e-factuur is hooguit enkele MB; vraag de leverancier om de factuur zonder"
                    " ingesloten bijlagen van die omvang, of boek hem handmatig.",
                )
            data = path.read_bytes()
        except FileNotFoundError:
            return None  # moved away meanwhile (another tool, or a person): nothing to do
        if len(data) != size:
            return None  # grew while read: still being written, the next run reads it
        if not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
            return self._problem(
                waiting,
                f"bestand:{hashlib.sha256(data).hexdigest()[:16]}",
                "/",
                f"{path.name}: geen XML ({_kind_of(data)}) en dus geen UBL-e-factuur",
                "Zet alleen UBL-e-facturen (XML) in de inbox; boek dit document handmatig.",
            )
        try:
            document = parse_document(data, limit=self.size_limit)
        except UblProblem as exc:
            return self._problem(
                waiting,
                f"bestand:{hashlib.sha256(data).hexdigest()[:16]}",
                exc.element,
                f"{path.name}: {exc.message}",
                exc.advice,
            )
        record_id = document.identity
        copies = self._read.setdefault(record_id, [])
        copies.append(path)
        if len(copies) > 1:
            return None  # the same document again in this run: it moves with the first copy's outcome
        invoice = document.invoice.model_copy(update={"source_id": record_id})
        return SourceRecord(Stream.INVOICES, record_id, waiting.cursor_key, payload=invoice)

    def _problem(
        self, waiting: _Waiting, record_id: str, element: str, message: str, advice: str
    ) -> SourceRecord | None:
        copies = self._read.setdefault(record_id, [])
        copies.append(waiting.path)
        if len(copies) > 1:
            return None  # the same unreadable bytes again: quarantined with the first copy
        reason = f"{message}\nelement: {element}\nwat te doen: {advice}"
        self._reasons[record_id] = reason
        return SourceRecord(
            Stream.INVOICES,
            record_id,
            waiting.cursor_key,
            problem=SourceProblem(
                record_id=record_id,
                message=message,
                field=element,
                advice=advice,
                raw_excerpt=f"bestand {waiting.path.name}",
            ),
        )

    # --- settling: archive or quarantine, never delete

    async def settled(self, stream: Stream, partition: str, record_id: str, outcome: RecordOutcome) -> None:
        """Move every copy of the record read in this run (a duplicate goes where the first one went)."""
        paths = self._read.pop(record_id, [])
        if not paths:
            # Settled without being read in this run: an "opnieuw proberen" of a quarantined record.
            found = self._quarantined(record_id)
            if found is None or outcome is RecordOutcome.PARKED:
                return
            paths = [found]
        for path in paths:
            self._move(path, record_id, outcome)

    def _move(self, path: Path, record_id: str, outcome: RecordOutcome) -> None:
        try:
            if outcome is RecordOutcome.PARKED:
                if path.parent != self.folder / QUARANTINE:
                    self._quarantine(path, record_id)
            else:
                self._archive(path)
        except FileNotFoundError:
            return  # moved away meanwhile (a person, or another tool): nothing to do
        except OSError as exc:
            raise ConnectorError(
                f"{path.name} kon niet worden verplaatst: {exc.strerror or exc}",
                advice="Controleer of Koppelaar in de inbox, archief/ en quarantaine/ mag schrijven;"
                " de volgende run probeert het opnieuw.",
                origin=Origin.SOURCE,
            ) from None

    def _archive(self, path: Path) -> Path:
        when = datetime.fromtimestamp(self.clock(), UTC)
        target = _free_name(self.folder / ARCHIVE / f"{when:%Y}" / f"{when:%m}", path.name)
        os.replace(path, target)  # one rename in one file system: the file is here or there
        reason = path.with_name(path.name + REASON_SUFFIX)
        if path.parent.name == QUARANTINE and reason.exists():
            os.replace(reason, target.with_name(target.name + REASON_SUFFIX))
        return target

    def _quarantine(self, path: Path, record_id: str) -> Path:
        folder = self.folder / QUARANTINE
        target = _free_name(folder, path.name)
        reason = self._reasons.get(record_id, "geweigerd; zie de foutmelding in Koppelaar")
        # The reason first (atomically), then the file: a crash in between leaves the file in the inbox.
        note = target.with_name(target.name + REASON_SUFFIX)
        scratch = folder / f".{note.name}.tmp"
        scratch.write_text(f"record: {record_id}\n{reason}\n", encoding="utf-8")
        os.replace(scratch, note)
        os.replace(path, target)
        return target

    def _quarantined(self, record_id: str) -> Path | None:
        folder = self.folder / QUARANTINE
        if not folder.is_dir():
            return None
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.name.endswith(REASON_SUFFIX):
                    continue
                with open(entry.path, encoding="utf-8") as note:
                    if note.readline().strip() == f"record: {record_id}":
                        document = Path(entry.path[: -len(REASON_SUFFIX)])
                        return document if document.exists() else None
        return None


def folder_problem(folder: Path) -> str:
    """Why the folder cannot be an inbox ("" when it can)."""
    if not folder.is_dir():
        return f"De map {folder} bestaat niet"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"Koppelaar mag niet schrijven in {folder} (nodig om te archiveren)"
    for sub in (ARCHIVE, QUARANTINE):
        try:
            (folder / sub).mkdir(exist_ok=True)
        except OSError as exc:
            return f"{folder / sub} kan niet worden aangemaakt: {exc.strerror or exc}"
    return ""


def waiting_count(folder: Path) -> int:
    """How many files wait in the inbox (for the connect step and the check)."""
    with os.scandir(folder) as entries:
        return sum(1 for e in entries if e.is_file(follow_symlinks=False) and not _unfinished_name(e.name))


def _unfinished_name(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(_UNFINISHED_SUFFIXES)


def _free_name(folder: Path, name: str) -> Path:
    """`name` in `folder`, or `name-2`, `name-3`…: os.replace would overwrite, and nothing is lost."""
    folder.mkdir(parents=True, exist_ok=True)
    candidate = folder / name
    stem, suffix = os.path.splitext(name)
    n = 1
    while candidate.exists():
        n += 1
        candidate = folder / f"{stem}-{n}{suffix}"
    return candidate


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _kind_of(data: bytes) -> str:
    if data.startswith(b"%PDF"):
        return "een PDF"
    if data.startswith(b"PK"):
        return "een ZIP- of Office-bestand"
    if not data.strip():
        return "leeg"
    return "onbekende inhoud"
