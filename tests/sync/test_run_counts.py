"""A run's counts say what it did: what it booked apart from what the target had already, and the
Overzicht warns when two koppelingen feed one source into one administratie (each offers every invoice)."""

from __future__ import annotations

from pathlib import Path

from state.config import ConfigFile, load_settings
from sync.status import shared_feeds
from tests.world import World, sandbox_world


def second_koppeling(world: World, name: str = "facturen-kopie", target: str = "boekhouding") -> None:
    config = ConfigFile.open(world.home.config)
    config.set(("koppelingen", name, "source"), "factuursturen")
    config.set(("koppelingen", name, "target"), target)
    config.set(("koppelingen", name, "mapping", "tegenrekening_verkoop"), "8000")
    config.set(("koppelingen", name, "mapping", "tegenrekening_inkoop"), "7000")
    for key, account in (("verkoop:9", "8010"), ("verkoop:0", "8020")):
        config.set(("koppelingen", name, "mapping", "tegenrekening", key), account)
    config.save()


async def test_bookings_the_target_already_had_are_not_counted_as_booked(tmp_path: Path) -> None:
    with sandbox_world(tmp_path, api="rest", invoices=6) as world:
        first = await world.run()
        assert first.progress.booked > 0, first.message
        bookings = world.booking_count()
        second_koppeling(world)
        second = await world.run("facturen-kopie")
        assert world.booking_count() == bookings  # nothing twice
        assert second.progress.booked == 0, second.message
        assert second.progress.already_present == first.progress.booked
        assert f"{first.progress.booked} al aanwezig" in second.message
        store = world.store()
        try:
            latest = store.runs("facturen-kopie", limit=1)[0]
        finally:
            store.close()
        assert latest.booked == 0


async def test_two_koppelingen_of_one_source_into_one_administratie_are_named(tmp_path: Path) -> None:
    with sandbox_world(tmp_path, api="rest", invoices=0) as world:
        assert shared_feeds(load_settings(world.home.config)) == {}
        second_koppeling(world)
        shared = shared_feeds(load_settings(world.home.config))
        assert shared == {"facturen": ("facturen-kopie",), "facturen-kopie": ("facturen",)}
