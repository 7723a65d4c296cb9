"""Crash points are inert unless a test names one, and every documented point exists in the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from include.cdc.faults import POINTS

CDC = Path(__file__).resolve().parents[2] / "include" / "cdc"


def test_every_crash_point_is_placed_in_the_pipeline():
    code = "".join(path.read_text() for path in CDC.rglob("*.py") if path.name != "faults.py")
    for point in POINTS:
        assert f'crash_point("{point}")' in code, point


def run_crash_points(crash_at: str | None) -> subprocess.CompletedProcess:
    """Pass every crash point twice in a fresh process, with PRODUCT_CDC_CRASH_AT set or not."""
    script = (
        "from include.cdc.faults import POINTS, crash_point\n"
        "for n in (1, 2):\n"
        "    for point in sorted(POINTS):\n"
        "        crash_point(point); print(point, n, flush=True)\n"
    )
    env = {"PYTHONPATH": str(CDC.parents[1])} | ({"PRODUCT_CDC_CRASH_AT": crash_at} if crash_at else {})
    command = [sys.executable, "-c", script]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def passes(points: list[str], n: int) -> list[str]:
    return [f"{point} {n}" for point in points]


@pytest.mark.parametrize("crash_at", [None, "", "no.such_point", "bronze.object_loaded:3"])
def test_crash_points_do_nothing_unless_one_is_named_and_reached(crash_at):
    result = run_crash_points(crash_at)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == passes(sorted(POINTS), 1) + passes(sorted(POINTS), 2)


def test_a_named_point_kills_the_process_on_its_nth_pass():
    result = run_crash_points("bronze.object_loaded:2")
    assert result.returncode == -9
    points = sorted(POINTS)
    before = points[: points.index("bronze.object_loaded")]
    assert result.stdout.splitlines() == passes(points, 1) + passes(before, 2)
