"""Build a test's warehouse without Airflow's scheduler loop: the DAG's ingest tasks, then dbt."""

from __future__ import annotations

from pathlib import Path

from dbt.cli.main import dbtRunner, dbtRunnerResult

from include.cdc.airflow import tasks

DBT_PROJECT = Path(__file__).resolve().parents[2] / "include" / "dbt"
RUN = {"full_refresh": False, "max_events": 0}


def ingest() -> dict:
    drained = tasks.drain_kafka.function(params=RUN)
    tasks.commit_offsets.function(drained)
    return tasks.load_bronze.function(params=RUN)


def dbt(
    corner, monkeypatch, tmp_path: Path, *args: str, project: Path = DBT_PROJECT, check: bool = True
) -> dbtRunnerResult:
    """Run dbt on the test's database, with the project's own profile (profiles.yml reads the env);
    its manifest and run results go to ``tmp_path / "target"``. ``project``: another copy of the
    project (same profile). ``check``: fail unless dbt succeeded."""
    for name, value in corner.stack.dbt_env(corner.database).items():
        monkeypatch.setenv(name, value)
    result = dbtRunner().invoke(
        [
            *args,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
            "--quiet",
        ]
    )
    if check:
        assert result.success, result.exception or result.result
    return result
