"""``python -m sandbox`` in a separate process: port file, live servers, clean SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


@pytest.mark.slow
def test_cli_writes_port_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "ports.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "--seed",
            "demo",
            "--invoices",
            "20",
            "--port-file",
            str(port_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists():  # the child writes it only once every port accepts connections
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        info = json.loads(port_file.read_text())
        creds = info["credentials"]["factuursturen"]
        r = httpx.get(
            info["factuursturen"] + "/api/v1/invoices",
            auth=(creds["login"], creds["api_key"]),
            headers={"Accept": "application/json"},
        )
        assert r.status_code == 200 and len(r.json()) == 20
        state = httpx.get(info["eboekhouden"] + "/_sandbox/state").json()
        assert state["sim"] == "eboekhouden"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
