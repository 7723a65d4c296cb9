"""The benchmark runs end to end at a small N and writes its figures (a smoke run: no speed asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_benchmark_completes_and_writes_its_figures(stack, tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        # One parse round: the figures of a smoke run are not kept. The dbt group in watcher mode only:
        # local mode's group (a dbt process per model, about 90 s here) runs in test_dbt_lifetime.py.
        [
            sys.executable,
            "-m",
            "devstack.bench",
            "--events",
            "3000",
            "--parse-rounds",
            "1",
            "--dbt-modes",
            "watcher",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert [s["name"] for s in figures["stages"]] == [
        "drain + MinIO write",
        "bronze load",
        "dbt build (models + tests)",
        "SQL checks",
    ]
    assert figures["stages"][1]["events"] >= 3000
    assert set(figures["references"]) == {"plain_copy", "runbook_way", "runbook_way_commit_per_object"}
    assert set(figures["incremental"]) == {"drain", "load", "dbt", "checks"}
    assert figures["dag_parse"]["cold_seconds"] > 0
    assert figures["dag_parse"]["rounds"] == 1
    slowest = figures["dag_parse"]["importtime_top10"]
    assert len(slowest) == 10
    assert all(m["cumulative_seconds"] >= m["self_seconds"] > 0 for m in slowest)
    assert figures["dag_parse"]["bytecode_compiled"] is True
    assert figures["ratios"]["dag_parse_vs_baseline"] > 0
    assert set(figures["dbt_group"]) == {"cli_dbt_build_seconds", "watcher_seconds"}
    assert figures["ratios"]["dbt_group_vs_cli"] > 0
    assert "dbt_group_local_vs_cli" not in figures["ratios"]
    assert "bronze load / plain COPY" in result.stdout
    assert stack.postgres.answers(), "the benchmark reset a stack that was not its own"
