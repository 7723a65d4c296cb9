"""Crash points are inert unless a test names one, and every documented point exists in the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from include.cdc.faults import POINTS, crash_point

CDC = Path(__file__).resolve().parents[2] / "include" / "cdc"


def test_crash_points_do_nothing_by_default(monkeypatch):
    monkeypatch.delenv("PRODUCT_CDC_CRASH_AT", raising=False)
    for point in POINTS:
        crash_point(point)


def test_every_crash_point_is_placed_in_the_pipeline():
    code = "".join(path.read_text() for path in CDC.glob("*.py") if path.name != "faults.py")
    for point in POINTS:
        assert f'crash_point("{point}")' in code, point


def test_a_named_point_kills_the_process_on_its_nth_pass():
    script = (
        "from include.cdc.faults import crash_point\n"
        "crash_point('bronze.object_loaded'); print('first pass survived', flush=True)\n"
        "crash_point('bronze.object_loaded'); print('second pass survived', flush=True)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={"PRODUCT_CDC_CRASH_AT": "bronze.object_loaded:2", "PYTHONPATH": str(CDC.parents[1])},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == -9
    assert result.stdout == "first pass survived\n"
