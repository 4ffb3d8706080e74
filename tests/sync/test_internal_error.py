"""An internal error tells support what happened: the exception, the run, and where the log with the
traceback is."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.logfile import log_path, log_to_file
from sync.mapping import Mapper
from tests.world import sandbox_world


async def test_an_internal_error_names_the_exception_the_run_and_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise KeyError("btw_code_hoog")  # a bug of ours, as it would surface mid-run

    with sandbox_world(tmp_path, api="rest", invoices=2) as world:
        log_to_file(world.home.root)
        monkeypatch.setattr(Mapper, "to_entry", broken)
        report = await world.run()
        assert report.status.value == "failed"
        store = world.store()
        try:
            problem = store.foutmeldingen("facturen")[0]
        finally:
            store.close()
        assert "KeyError" in problem.title and "btw_code_hoog" in problem.title, problem.title
        log = log_path(world.home.root)
        assert str(log) in problem.advice and f"Run {report.run_id}" in problem.advice, problem.advice
        text = log.read_text()
        assert "Traceback" in text and "btw_code_hoog" in text and f"run {report.run_id}" in text
