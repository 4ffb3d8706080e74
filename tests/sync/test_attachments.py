"""The invoice PDF travels with its booking: Exact as a document on the entry, AFAS as a dossier item on
the invoice, e-Boekhouden not at all. A failed or interrupted attachment never un-books or doubles."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

from sandbox import seed
from sandbox import ubl as b
from state.config import ConfigFile
from state.store import OutboxState
from sync.engine import RunStatus
from tests.world import World, sandbox_world
from tui.demo import AFAS_MAPPING, OAUTH_MAPPING, Target

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF"
NUMBER = "DV-2026-0117"
DOCUMENTS = f"/api/v1/{seed.EXACT_DIVISION}/documents/Documents"
ATTACHMENTS = f"/api/v1/{seed.EXACT_DIVISION}/documents/DocumentAttachments"
PURCHASE_ENTRIES = f"/api/v1/{seed.EXACT_DIVISION}/purchaseentry/PurchaseEntries"
KN_SUBJECT = "/ProfitRestServices/connectors/KnSubject"


def inbox_koppeling(world: World, folder: Path, target: Target, *, dossieritemtype: int = 7) -> None:
    """Koppeling 'inkoop': a UBL inbox folder into the world's bookkeeping."""
    folder.mkdir(exist_ok=True)
    config = ConfigFile.open(world.home.config)
    config.set(("connections", "inbox", "system"), "ubl-inbox")
    config.set(("connections", "inbox", "path"), str(folder))
    config.set(("connections", "inbox", "settle_seconds"), 0.0)
    config.set(("koppelingen", "inkoop", "source"), "inbox")
    config.set(("koppelingen", "inkoop", "target"), "boekhouding")
    mapping = ("koppelingen", "inkoop", "mapping")
    if target == "eboekhouden":
        config.set((*mapping, "tegenrekening_inkoop"), "7000")
    else:
        config.set((*mapping, "tegenrekening_inkoop"), "4000")
        source = AFAS_MAPPING if target == "afas" else OAUTH_MAPPING[target]
        codes = source["btw_codes"]
        assert isinstance(codes, dict)
        for key, code in codes.items():
            config.set((*mapping, "btw_codes", key), code)
    if target == "afas":
        config.set(("connections", "boekhouding", "dossieritemtype"), dossieritemtype)
    config.save()


def drop(folder: Path, name: str, number: str = NUMBER, pdf: bytes | None = PDF) -> None:
    (folder / name).write_bytes(b.build(b.nl_21_9(number, attachment=pdf)))


def attached(world: World) -> dict[str, str | None]:
    return {row.label: row.attached for row in world.store().outbox_rows("inkoop", (OutboxState.SENT,))}


def exact_documents(world: World) -> list[tuple[dict[str, object], list[bytes]]]:
    div = world.ex.division()
    return [
        (
            doc,
            [
                world.ex.attachment_bytes[a["ID"]]
                for a in div.document_attachments.values()
                if a["Document"] == doc["ID"]
            ],
        )
        for doc in div.documents.values()
    ]


async def test_exact_gets_the_pdf_as_a_document_linked_to_the_purchase_entry(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    with sandbox_world(tmp_path, api="soap", invoices=0, target="exact") as world:
        inbox_koppeling(world, inbox, "exact")
        drop(inbox, "dv-0117.xml")
        drop(inbox, "dv-0118.xml", "DV-2026-0118", pdf=None)  # no PDF: nothing to attach

        report = await world.run("inkoop")

        assert report.status is RunStatus.OK, report.problems
        (entry,) = [e for e in world.ex.purchase_entries() if str(e["YourRef"]).strip() == NUMBER]
        ((document, files),) = exact_documents(world)
        assert files == [PDF]
        assert entry["Document"] == document["ID"]
        assert document["Type"] == 20 and NUMBER in str(document["Subject"])
        assert document["Account"] == entry["Supplier"]
        other = next(e for e in world.ex.purchase_entries() if e is not entry)
        assert other["Document"] is None
        assert attached(world)[NUMBER] == "ja"

        again = await world.run("inkoop", retry=True)

        assert again.status is RunStatus.OK
        assert len(exact_documents(world)) == 1  # nothing attached twice


async def test_a_crash_halfway_through_attaching_is_finished_not_doubled_in_exact(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    with sandbox_world(tmp_path, api="soap", invoices=0, target="exact") as world:
        inbox_koppeling(world, inbox, "exact")
        drop(inbox, "dv-0117.xml")
        # The link to the entry does not get through: document and file are there, the entry not linked.
        world.ex.faults.add(method="PUT", path=PURCHASE_ENTRIES, kind="status", status=503, times=20)

        first = await world.run("inkoop")

        assert world.bookings_per_invoice()[NUMBER] == 1, first.problems
        assert attached(world)[NUMBER] is None  # still owed: the next run tries again
        assert [files for _, files in exact_documents(world)] == [[PDF]]
        assert "bijlage" in " ".join(first.problems)
        # A crash right after the request left: the row says "bezig".
        with sqlite3.connect(world.home.database) as db:
            db.execute("UPDATE outbox SET attached = 'bezig' WHERE label = ?", (NUMBER,))
        world.ex.faults.clear()

        second = await world.run("inkoop")

        assert second.status is RunStatus.OK, second.problems
        assert world.bookings_per_invoice()[NUMBER] == 1
        ((document, files),) = exact_documents(world)
        assert files == [PDF]
        (entry,) = world.ex.purchase_entries()
        assert entry["Document"] == document["ID"]
        assert attached(world)[NUMBER] == "ja"
        assert not world.store().foutmeldingen("inkoop")


async def test_afas_gets_the_pdf_as_a_dossier_item_on_the_purchase_invoice(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    with sandbox_world(tmp_path, api="soap", invoices=0, target="afas") as world:
        inbox_koppeling(world, inbox, "afas", dossieritemtype=7)

        drop(inbox, "dv-0117.xml")
        report = await world.run("inkoop")

        assert report.status is RunStatus.OK, report.problems
        assert world.bookings_per_invoice()[NUMBER] == 1
        (subject,) = world.af.subjects
        assert subject["StId"] == 7
        (link,) = subject["links"]
        creditor = link["Fields"]["SfId"]
        assert link["Fields"] | {"SfId": creditor} == {
            "DoCRM": True, "SfTp": 11, "SfId": creditor, "PiUn": "1", "PiTp": 1, "PiId": NUMBER,
        }  # fmt: skip
        assert creditor in world.af.creditors
        (file,) = subject["files"]
        assert base64.b64decode(file["Fields"]["FileStream"]) == PDF
        assert file["Fields"]["FileName"] == f"{NUMBER}.pdf"
        assert attached(world)[NUMBER] == "ja"


async def test_a_refused_dossier_item_leaves_the_booking_and_says_what_section_1_2_9_says(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox"
    with sandbox_world(tmp_path, api="soap", invoices=0, target="afas") as world:
        inbox_koppeling(world, inbox, "afas")
        world.af.refused_destination = True
        drop(inbox, "dv-0117.xml")

        first = await world.run("inkoop")

        assert world.bookings_per_invoice()[NUMBER] == 1
        assert world.af.subjects == []
        assert attached(world)[NUMBER] == "mislukt"
        assert [p.name for p in (inbox / "archief").rglob("*.xml")] == ["dv-0117.xml"]
        (melding,) = world.store().foutmeldingen("inkoop")
        assert melding.origin == "doel" and melding.code == "bijlage:bestemming"
        assert "Geboekt, maar de bijlage ging niet mee" in melding.title
        for words in ("CRM > Dossier > Configuratie > Dossieritemtype", "Bestemming", "Optioneel"):
            assert words in melding.advice
        assert "Aankoopcontact + aankoopfactuur" in melding.advice
        assert "bijlage" in " ".join(first.problems)

        second = await world.run("inkoop")  # not retried by itself: the admin has to act first

        assert world.af.subjects == []
        assert world.bookings_per_invoice()[NUMBER] == 1

        world.af.refused_destination = False  # the admin set the destination to Optioneel
        third = await world.run("inkoop", retry=True)

        assert third.status is RunStatus.OK, third.problems
        assert world.bookings_per_invoice()[NUMBER] == 1
        assert len(world.af.subjects) == 1
        assert attached(world)[NUMBER] == "ja"
        assert not world.store().foutmeldingen("inkoop")
        assert second.progress.booked == third.progress.booked == 0


async def test_an_interrupted_afas_attachment_is_for_a_person_never_sent_twice(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    with sandbox_world(tmp_path, api="soap", invoices=0, target="afas") as world:
        inbox_koppeling(world, inbox, "afas")
        # The answer to the dossier item is lost: AFAS may have it; it cannot be looked up.
        world.af.faults.add(method="POST", path=KN_SUBJECT, kind="lost_response", times=1)
        drop(inbox, "dv-0117.xml")

        await world.run("inkoop")

        assert world.bookings_per_invoice()[NUMBER] == 1
        assert len(world.af.subjects) == 1  # it did arrive
        assert attached(world)[NUMBER] == "onzeker"
        (melding,) = world.store().foutmeldingen("inkoop")
        assert "opnieuw proberen" in melding.advice

        await world.run("inkoop")

        assert len(world.af.subjects) == 1  # never posted again by itself
        assert world.bookings_per_invoice()[NUMBER] == 1


async def test_e_boekhouden_gets_no_attachment_call(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    with sandbox_world(tmp_path, api="rest", invoices=0) as world:
        inbox_koppeling(world, inbox, "eboekhouden")
        drop(inbox, "a.xml", "DV-2026-0201", pdf=None)  # makes the supplier
        await world.run("inkoop")
        counts = []
        for name, number, pdf in (("b.xml", "DV-2026-0202", PDF), ("c.xml", "DV-2026-0203", None)):
            before = world.target_requests()
            drop(inbox, name, number, pdf)
            report = await world.run("inkoop")
            assert report.status is RunStatus.OK, report.problems
            counts.append(world.target_requests() - before)

        assert counts[0] == counts[1]  # the PDF costs no request
        assert world.booking_count() == 3
        assert attached(world)["DV-2026-0202"] == "niet"
