"""The UBL inbox end to end: files dropped in a folder, booked through the engine into every target
simulator (real HTTP), then archived; what cannot be booked goes to quarantaine with its reason."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.contract import RecordOutcome, Stream
from connectors.ubl.inbox import ARCHIVE, QUARANTINE, UblInbox
from connectors.ubl.settings import UblInboxConnection
from sandbox import ubl as b
from state.config import ConfigFile
from sync.engine import RunStatus
from tests.world import Api, World, sandbox_world
from tui.demo import OAUTH_MAPPING, Target, add_ubl_koppeling

BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;'
    b'&lol;&lol;&lol;&lol;&lol;">]><Invoice>&lol2;</Invoice>'
)


def drop(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def add_inbox_koppeling(world: World, folder: Path, target: Target) -> None:
    """Connection 'inbox' (the folder) and koppeling 'inkoop' into the world's bookkeeping."""
    config = ConfigFile.open(world.home.config)
    config.set(("connections", "inbox", "system"), "ubl-inbox")
    config.set(("connections", "inbox", "path"), str(folder))
    config.set(("connections", "inbox", "settle_seconds"), 0.0)
    config.set(("koppelingen", "inkoop", "source"), "inbox")
    config.set(("koppelingen", "inkoop", "target"), "boekhouding")
    mapping = ("koppelingen", "inkoop", "mapping")
    if target == "eboekhouden":
        config.set((*mapping, "tegenrekening_inkoop"), "7000")
        # A Belgian supplier's reverse-charged service: the category and country pick the code.
        config.set((*mapping, "btw_codes", "inkoop:0:AE:BE"), "VERL_INK")
    else:
        config.set((*mapping, "tegenrekening_inkoop"), "4000")
        codes = OAUTH_MAPPING[target]["btw_codes"]
        assert isinstance(codes, dict)
        for key, code in codes.items():
            config.set((*mapping, "btw_codes", key), code)
        # A Belgian supplier's reverse-charged service: the category and country pick the code.
        config.set((*mapping, "btw_codes", "inkoop:0:AE:BE"), codes["inkoop:0"])
    config.save()


TARGETS: list[tuple[Target, Api]] = [
    ("eboekhouden", "rest"),
    ("eboekhouden", "soap"),
    ("exact", "soap"),
    ("twinfield", "soap"),
]


@pytest.mark.parametrize(("target", "api"), TARGETS, ids=["eb-rest", "eb-soap", "exact", "twinfield"])
async def test_an_inbox_is_booked_once_archived_and_what_is_wrong_quarantined(
    tmp_path: Path, target: Target, api: Api
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with sandbox_world(tmp_path, api=api, invoices=0, target=target) as world:
        add_inbox_koppeling(world, inbox, target)
        drop(inbox, "dv-0117.xml", b.build(b.nl_21_9()))
        drop(inbox, "dv-0117-nogmaals.xml", b.build(b.nl_21_9()))  # the same invoice dropped twice
        drop(inbox, "dv-cn-0003.xml", b.build(b.nl_21_9("CN-2026-0003", root="CreditNote")))
        drop(inbox, "peeters-0043.xml", b.build(b.be_nl_reverse_charge()))
        drop(
            inbox,
            "scheef.xml",
            b.build(b.nl_21_9("DV-2026-0118", spoil={"TaxInclusiveAmount": Decimal("0.05")})),
        )
        drop(inbox, "scan.pdf", b"%PDF-1.4 a scanned invoice")
        drop(inbox, "bom.xml", BOMB)
        drop(inbox, ".kopie-bezig.xml.part", b"<Inv")  # still being copied: left alone

        first = await world.run("inkoop")

        assert first.status is RunStatus.PARTIAL, first.problems
        assert first.progress.booked == 3, first.problems
        assert first.progress.parked == 3
        booked = world.bookings_per_invoice()
        assert booked["DV-2026-0117"] == booked["CN-2026-0003"] == booked["F2026/0043"] == 1
        assert "DV-2026-0118" not in booked
        quarantined = files(inbox / QUARANTINE)
        assert quarantined == sorted(
            [f"{n}{s}" for n in ("bom.xml", "scan.pdf", "scheef.xml") for s in ("", ".reden.txt")]
        )
        reason = (inbox / QUARANTINE / "scheef.xml.reden.txt").read_text()
        assert "BT-112" in reason and "verschil 0.05" in reason and "TaxInclusiveAmount" in reason
        assert "geen XML (een PDF)" in (inbox / QUARANTINE / "scan.pdf.reden.txt").read_text()
        assert "DTD of entiteiten" in (inbox / QUARANTINE / "bom.xml.reden.txt").read_text()
        # The foutmelding says what to do about a file, not the generic "correct it in the source".
        advice = [problem.advice for problem in world.store().foutmeldingen("inkoop")]
        assert len(advice) == 3, advice  # a bomb, a PDF and a bad total: three defects, three advices
        assert any("gecorrigeerde e-factuur" in text for text in advice), advice
        assert any("handmatig" in text for text in advice), advice
        # The duplicate is recognised in the same run (same supplier and number): archived, not booked.
        archived = files(inbox / ARCHIVE)
        assert archived == sorted(
            ["dv-0117.xml", "dv-0117-nogmaals.xml", "dv-cn-0003.xml", "peeters-0043.xml"]
        )
        assert [p.name for p in inbox.iterdir() if p.is_file()] == [".kopie-bezig.xml.part"]

        second = await world.run("inkoop")

        assert second.progress.booked == 0
        assert world.bookings_per_invoice() == booked
        assert files(inbox) == sorted([".kopie-bezig.xml.part", *archived, *quarantined])


async def test_a_corrected_file_put_back_from_quarantaine_goes_the_normal_path(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with sandbox_world(tmp_path, api="rest", invoices=0) as world:
        add_inbox_koppeling(world, inbox, "eboekhouden")
        drop(inbox, "scheef.xml", b.build(b.nl_21_9(spoil={"TaxInclusiveAmount": Decimal("0.05")})))
        await world.run("inkoop")
        assert (inbox / QUARANTINE / "scheef.xml").exists()
        # The supplier sent a corrected file; the bookkeeper puts it back in place of the broken one.
        (inbox / QUARANTINE / "scheef.xml").write_bytes(b.build(b.nl_21_9()))
        (inbox / QUARANTINE / "scheef.xml").replace(inbox / "scheef.xml")

        again = await world.run("inkoop")

        assert again.progress.booked == 1, again.problems
        assert world.bookings_per_invoice()["DV-2026-0117"] == 1
        assert any(p.name == "scheef.xml" for p in (inbox / ARCHIVE).rglob("*.xml"))


async def test_a_file_still_being_written_waits_and_a_booked_file_left_behind_is_archived(
    tmp_path: Path,
) -> None:
    now = [2_000_000_000.0]
    source = UblInbox(tmp_path, settle_seconds=5, clock=lambda: now[0])
    path = drop(tmp_path, "nieuw.xml", b.build(b.nl_21_9()))
    os.utime(path, (now[0] - 1, now[0] - 1))
    assert [page async for page in source.read(Stream.INVOICES, "", None)] == []
    now[0] += 10
    pages = [page async for page in source.read(Stream.INVOICES, "", None)]
    [[record]] = pages
    assert record.payload is not None and record.record_id == "NL004495445B01/DV-2026-0117"
    # Killed after booking, before the move: a fresh source (a new run) is told again and archives it.
    fresh = UblInbox(tmp_path, settle_seconds=5, clock=lambda: now[0])
    [[again]] = [page async for page in fresh.read(Stream.INVOICES, "", None)]
    await fresh.settled(Stream.INVOICES, "", again.record_id, RecordOutcome.BOOKED)
    assert not path.exists()
    assert len(list((tmp_path / ARCHIVE).rglob("nieuw.xml"))) == 1


async def test_a_file_over_the_size_cap_is_quarantined_without_being_read_whole(tmp_path: Path) -> None:
    big = tmp_path / "groot.xml"
    with open(big, "wb") as handle:
        handle.write(b"<Invoice>")
        handle.truncate(50 * 1024 * 1024)  # 50 MB (sparse)
    source = UblInbox(tmp_path, settle_seconds=0)
    [[record]] = [page async for page in source.read(Stream.INVOICES, "", None)]
    assert record.problem is not None and "groter dan de grens" in record.problem.message
    await source.settled(Stream.INVOICES, "", record.record_id, RecordOutcome.PARKED)
    assert (tmp_path / QUARANTINE / "groot.xml").exists()
    assert "groter dan de grens" in (tmp_path / QUARANTINE / "groot.xml.reden.txt").read_text()


async def test_the_same_document_twice_in_one_run_is_handed_on_once_and_moves_with_its_first_copy(
    tmp_path: Path,
) -> None:
    source = UblInbox(tmp_path, settle_seconds=0, page_size=1)
    drop(tmp_path, "a.xml", b.build(b.nl_21_9()))
    drop(tmp_path, "b.xml", b.build(b.nl_21_9()))  # the same invoice, delivered twice
    drop(tmp_path, "c.xml", b.build(b.nl_21_9("DV-2026-0200")))
    drop(tmp_path, "bom-1.xml", BOMB)
    drop(tmp_path, "bom-2.xml", BOMB)  # the same unreadable bytes twice

    pages = [page async for page in source.read(Stream.INVOICES, "", None)]

    ids = [record.record_id for page in pages for record in page]
    assert len(ids) == 3
    assert sorted(i for i in ids if not i.startswith("bestand:")) == [
        "NL004495445B01/DV-2026-0117",
        "NL004495445B01/DV-2026-0200",
    ]
    for record_id in ids:
        outcome = RecordOutcome.PARKED if record_id.startswith("bestand:") else RecordOutcome.BOOKED
        await source.settled(Stream.INVOICES, "", record_id, outcome)
    assert files(tmp_path / ARCHIVE) == ["a.xml", "b.xml", "c.xml"]
    assert files(tmp_path / QUARANTINE) == sorted(
        ["bom-1.xml", "bom-1.xml.reden.txt", "bom-2.xml", "bom-2.xml.reden.txt"]
    )
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == []


async def test_the_demo_inbox_books_its_suppliers_and_quarantines_what_the_demo_says(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    with sandbox_world(tmp_path, api="soap", invoices=0) as world:
        add_ubl_koppeling(world.home, inbox)

        report = await world.run("inkoop")

        assert report.progress.booked == 5, report.problems
        assert sorted(world.bookings_per_invoice()) == sorted(
            ["DV-2026-0117", "DV-CN-2026-0003", "F2026/0043", "VL-26-1187", "GR-2026-00412"]
        )
        assert files(inbox / QUARANTINE) == sorted(
            f"{n}{s}" for n in ("GR-2026-00413.xml", "scan energienota maart.pdf") for s in ("", ".reden.txt")
        )
        assert "DV-2026-0117 (1).xml" in files(inbox / ARCHIVE)  # the duplicate, archived not booked
        codes = {row.vat_code for m in world.eb.mutations for row in m.rows}
        assert "BI_EU_INK" in codes


async def test_a_subfolder_per_administratie_reads_only_its_own_files(tmp_path: Path) -> None:
    (tmp_path / "10001").mkdir()
    (tmp_path / "10002").mkdir()
    drop(tmp_path / "10001", "a.xml", b.build(b.nl_21_9()))
    drop(tmp_path / "10002", "b.xml", b.build(b.be_nl_reverse_charge()))
    first = UblInboxConnection(path=str(tmp_path), subfolder="10001", settle_seconds=0)
    [[record]] = [
        page async for page in UblInbox(first.folder, settle_seconds=0).read(Stream.INVOICES, "", None)
    ]
    assert record.record_id == "NL004495445B01/DV-2026-0117"
    # The top folder as an inbox of its own does not descend into the administraties' folders.
    assert [page async for page in UblInbox(tmp_path, settle_seconds=0).read(Stream.INVOICES, "", None)] == []
    for escape in ("../elders", "/etc", "10001/dieper"):
        with pytest.raises(ValueError, match="één mapnaam"):
            UblInboxConnection(path=str(tmp_path), subfolder=escape)
