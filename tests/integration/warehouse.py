"""Build a test's warehouse without Airflow's scheduler loop: the DAG's ingest tasks, then dbt."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from include.cdc.airflow import tasks
from include.cdc.settings import Settings

DBT_PROJECT = Path(__file__).resolve().parents[2] / "include" / "dbt"
RUN = {"full_refresh": False, "max_events": 0}
PARTIAL_PARSE = "partial_parse.msgpack"


def ingest() -> dict:
    drained = tasks.drain_kafka.function(params=RUN)
    tasks.commit_offsets.function(drained)
    return tasks.load_bronze.function(params=RUN)


class RunResults(list):
    """dbt's run_results.json, each result with ``node.name``, ``node.unique_id``, ``status`` and
    ``failures`` (as dbtRunner's result objects have them)."""

    @property
    def results(self) -> RunResults:
        return self


@dataclass
class DbtResult:
    """What a dbt command gave: ``success`` (exit 0), ``exception`` (dbt's output when it ended with an
    error, not with failing nodes) and ``result`` (the run results; None for a command without)."""

    success: bool
    exception: str | None
    result: RunResults | None


def _run_results(target: Path) -> RunResults | None:
    path = target / "run_results.json"
    if not path.exists():
        return None
    return RunResults(
        SimpleNamespace(
            node=SimpleNamespace(name=r["unique_id"].split(".")[2], unique_id=r["unique_id"]),
            status=r["status"],
            failures=r.get("failures"),
        )
        for r in json.loads(path.read_text())["results"]
    )


class _PartialParse:
    """dbt's parse of the project, kept per stack and database between a worker's tests (as Cosmos keeps
    it between tasks): dbt reads it from, and writes it to, the target folder, which is each test's own."""

    def __init__(self, corner, target: Path) -> None:
        self.kept = corner.stack.dir / "dbt-partial-parse" / f"{corner.database}.msgpack"
        self.written = target / PARTIAL_PARSE
        if self.kept.exists():
            self.written.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.kept, self.written)

    def keep(self) -> None:
        if self.written.exists():
            self.kept.parent.mkdir(exist_ok=True)
            staged = self.kept.with_suffix(".new")
            shutil.copyfile(self.written, staged)
            staged.replace(self.kept)


def dbt(
    corner, monkeypatch, tmp_path: Path, *args: str, project: Path = DBT_PROJECT, check: bool = True
) -> DbtResult:
    """Run dbt on the test's database as the DAG's tasks run it (the dbt of dbt's own virtualenv, in a
    process of its own), with the project's own profile (profiles.yml reads the env); its manifest and
    run results go to ``tmp_path / "target"``. ``project``: another copy of the project (same profile).
    ``check``: fail unless dbt succeeded."""
    for name, value in corner.stack.dbt_env(corner.database).items():
        monkeypatch.setenv(name, value)
    target = tmp_path / "target"
    (target / "run_results.json").unlink(missing_ok=True)
    parse = _PartialParse(corner, target) if project == DBT_PROJECT else None
    completed = subprocess.run(
        [
            Settings.from_env().dbt_executable,
            *args,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(target),
            "--log-path",
            str(tmp_path / "logs"),
            "--quiet",
        ],
        env=os.environ,
        capture_output=True,
        text=True,
        check=False,
    )
    if parse is not None:
        parse.keep()
    # dbt's exit codes: 0 success, 1 a node failed or errored, 2 dbt itself could not complete.
    output = f"{completed.stdout[-3000:]}{completed.stderr[-3000:]}"
    result = DbtResult(
        success=completed.returncode == 0,
        exception=None if completed.returncode in (0, 1) else output or f"exit {completed.returncode}",
        result=_run_results(target),
    )
    if check:
        assert result.success, result.exception or output
    return result
