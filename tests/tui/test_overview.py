"""Overzicht: what an admin sees first, over SSH at 80x24 — every koppeling with its state, last and next
run and open foutmeldingen, kept live while the console is open."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sandbox import seed
from state.config import load_settings, write_new
from state.home import Home
from tests.sync.test_run_counts import second_koppeling
from tests.tui.conftest import (
    SIZE,
    AppFactory,
    new_app,
    screen_text,
    wait_for_text,
    wait_for_words,
    wait_until,
)
from tests.world import World
from tui.app import KoppelaarApp
from tui.screens.koppeling import KoppelingScreen
from tui.screens.overview import OverviewScreen, short_time
from tui.widgets.instellingen_tab import DAYS


def row_line(text: str, name: str) -> str:
    lines = [line for line in text.splitlines() if line.strip().startswith(name + " ")]
    assert lines, f"no row for {name!r} in:\n{text}"
    return lines[0]


async def test_an_admin_at_80x24_sees_state_last_run_next_run_and_foutmeldingen_without_scrolling(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        text = await wait_for_text(pilot, "facturen")
        header = next(line for line in text.splitlines() if "Koppeling" in line)
        for column in ("Koppeling", "Status", "Laatste run", "Volgende", "Fouten", "Niet gek."):
            assert column in header, f"column {column!r} cut off at 80 columns:\n{text}"
        row = row_line(text, "facturen")
        # The second run parked the 7% invoice: partially done, nothing booked, one failed record.
        assert "Actief" in row
        assert "deels 0/1" in row
        assert "03:15" in row  # the nightly schedule '15 3 * * *'
        assert row.split("03:15", 1)[1].split()[0] == "1"  # one open foutmelding
        assert "Planner: niemand" in text  # nobody schedules: no daemon, and this console was told not to


async def test_source_and_target_are_never_cut_and_use_the_width_there_is(make_app: AppFactory) -> None:
    """At 80 columns 'Bron → doel' read 'factuursturen → bo'; a wide terminal keeps it on one line."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        narrow = await wait_for_text(pilot, "facturen")
    rows = narrow.splitlines()
    first = rows.index(row_line(narrow, "facturen"))
    assert rows[first].rstrip().endswith("factuursturen →"), narrow
    assert rows[first + 1].rstrip().endswith("boekhouding"), narrow
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        wide = await wait_for_text(pilot, "facturen")
    assert "factuursturen → boekhouding" in row_line(wide, "facturen"), wide


async def test_the_scheduler_line_says_since_when_in_local_time(world: World, make_app: AppFactory) -> None:
    """The header showed the lease's raw UTC ISO time ('sinds 2026-01-21T02:15:02+00:00')."""
    store = world.store()
    assert store.acquire_lease("scheduler", "daemon:test", 600)
    lease = store.lease("scheduler")
    assert lease is not None
    timezone = load_settings(world.home.config).app.timezone
    local = datetime.fromisoformat(lease.acquired_at).astimezone(ZoneInfo(timezone))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        text = await wait_for_text(pilot, "Planner: daemon")
    line = next(line for line in text.splitlines() if "Planner:" in line)
    assert f"sinds {local:%d-%m %H:%M}" in line and "+00:00" not in line, line


async def test_the_overview_follows_a_run_made_elsewhere_while_it_is_open(
    world: World, make_app: AppFactory
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "deels 0/1")
        client = world.fs.add_client("Bakkerij De Korenschoof").clientnr
        world.fs.add_invoice(client, [(2, "37.50", 21, "Taarten")], sent="2026-01-22")
        report = await world.run()  # as the daemon or a cron job would, outside this console
        assert report.progress.booked == 1, report.message
        await wait_until(
            pilot,
            lambda: " 1/0" in row_line(screen_text(app), "facturen"),
            "the overview showing the new run (1 booked, 0 failed)",
        )


async def test_enter_opens_the_koppeling_and_escape_comes_back(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "facturen")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, KoppelingScreen), "the koppeling screen")
        assert app.screen.sub_title == "facturen"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen), "back on the overview")


async def test_a_home_without_koppelingen_says_what_to_do(tmp_path: Path) -> None:
    home = Home(tmp_path / "leeg")
    home.ensure()
    write_new(home.config, {"app": {"secret_backend": "file"}})
    app = KoppelaarApp(home, embedded_scheduler=False)
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        text = await wait_for_text(pilot, "nog geen koppelingen")
        assert "koppelaar.toml" in text
        await pilot.press("enter")  # nothing to open: no crash, still the overview
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)


async def test_vendor_text_with_brackets_in_a_name_does_not_break_the_table(world: World) -> None:
    # Rich markup in a cell would crash the table or vanish; names are shown as typed.
    config = world.home.config
    config.write_text(
        config.read_text(encoding="utf-8").replace("koppelingen.facturen", 'koppelingen."facturen[nl]"'),
        encoding="utf-8",
    )
    app = new_app(world)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, "facturen[nl]")


async def test_the_last_run_is_shown_in_the_same_local_time_as_the_schedule(world: World) -> None:
    # The store keeps UTC; a summer night's 03:15 run in Amsterdam is 01:15 UTC. Within a week the
    # day and the time say enough; older, the date.
    summer_night = "2026-07-01T01:15:02+00:00"
    assert short_time(summer_night, "Europe/Amsterdam", now=datetime(2026, 7, 2, 9, tzinfo=UTC)) == "wo 03:15"
    assert short_time(summer_night, "Europe/Amsterdam", now=datetime(2026, 11, 21, tzinfo=UTC)) == "01-07-26"
    recent = (datetime.now(UTC) - timedelta(days=1)).replace(hour=1, minute=15)
    db = sqlite3.connect(world.home.database)
    with db:
        db.execute("UPDATE runs SET started_at = ? WHERE id = 2", (recent.isoformat(),))
    db.close()
    local = recent.astimezone(ZoneInfo("Europe/Amsterdam"))
    app = new_app(world)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_text(pilot, f"{DAYS[local.weekday()]} {local:%H:%M} deels 0/1")


async def test_a_dry_run_as_last_run_reads_as_a_dry_run(world: World) -> None:
    report = await world.run(dry_run=True)
    assert report.dry_run
    app = new_app(world)
    async with app.run_test(size=SIZE) as pilot:
        row = row_line(await wait_for_text(pilot, "dry-run"), "facturen")
        assert "dry_run" not in row


async def test_a_revoked_token_still_fits_80_columns(world: World) -> None:
    world.eb.revoke_token(seed.EB_API_TOKEN)
    await world.run()  # fails on the token: the koppeling needs re-authorisation
    app = new_app(world)
    async with app.run_test(size=SIZE) as pilot:
        text = await wait_for_text(pilot, "Herautoriseren")
        assert "Fouten" in text.splitlines()[2], text
        assert "mislukt" in row_line(text, "facturen")


async def test_two_koppelingen_of_one_source_into_one_administratie_are_warned_about(world: World) -> None:
    second_koppeling(world)
    app = new_app(world)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_words(pilot, "facturen + facturen-kopie: dezelfde bron in dezelfde administratie")
