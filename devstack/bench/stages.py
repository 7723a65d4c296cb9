"""The benchmark's stages, each a function run in a process of its own (``python -m devstack.bench
--stage NAME``, so its peak resident memory is its own), and the DAG's dbt task group timed alone
(``--dbt-group``)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

RUN = {"full_refresh": False, "max_events": 0}


def stage_drain() -> int:
    from include.cdc.airflow import tasks

    drained = tasks.drain_kafka.function(params=RUN)
    tasks.commit_offsets.function(drained)
    return drained["events"]


def stage_load() -> int:
    from include.cdc.airflow import tasks

    return tasks.load_bronze.function(params=RUN)["total"]["rows_loaded"]


def _dbt_arguments(command: str, target_path: str) -> list[str]:
    """A quiet dbt command on the project, its local profile and the benchmark's target folder."""
    project = str(REPO / "include" / "dbt")
    return [
        command,
        "--quiet",
        "--project-dir",
        project,
        "--profiles-dir",
        project,
        "--target-path",
        target_path,
    ]


def _dbt_program() -> str:
    """The dbt of dbt's own virtualenv (PRODUCT_CDC_DBT_EXECUTABLE), as the DAG's tasks run it."""
    from include.cdc.settings import Settings

    return Settings.from_env().dbt_executable


def _dbt(command: str) -> None:
    argv = [_dbt_program(), *_dbt_arguments(command, os.environ["BENCH_DBT_TARGET"])]
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"dbt {command} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def warm_dbt() -> None:
    """A first dbt process parses the project (dbt's partial parse reuses it); dbt's interpreter start-up
    and imports are paid again by the build's own process, as by every dbt task."""
    _dbt("parse")


def stage_dbt() -> int:
    _dbt("build")
    return 0


def dbt_group_seconds() -> float:
    """The DAG's dbt task group alone, rebuilding every model (``full_refresh``) as dag.test() runs it:
    one task at a time, in this process. Its wall time runs from its first task's start to its last
    task's end (dag.test()'s own start-up is not the group's). ``PRODUCT_CDC_DBT_MODE`` picks the mode."""
    from devstack.dag_runner import run_dag
    from devstack.demo import ensure_airflow_db, load_dag
    from devstack.stack import Stack

    ensure_airflow_db(Stack())
    dag = load_dag()
    dbt_tasks = [t for t in dag.task_ids if t.startswith("dbt.")]
    group = dag.partial_subset(dbt_tasks, include_upstream=False, include_downstream=False)
    outcome = run_dag(group, {**RUN, "full_refresh": True})
    if not outcome.succeeded:
        raise RuntimeError(f"the dbt task group failed: {outcome.failed_tasks()}")
    return outcome.wall_seconds("dbt.")


def cli_dbt_build(env: dict[str, str]) -> float:
    """Wall seconds of ``dbt build --full-refresh`` as a user runs it from a shell: the floor for the dbt
    task group rebuilding every model."""
    command = [_dbt_program(), *_dbt_arguments("build", env["BENCH_DBT_TARGET"]), "--full-refresh"]
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


_CHECKS: list[tuple[str, object]] = []


def warm_checks() -> None:
    """Render the DAG's checks (parsing the DAG file is not the checks' cost)."""
    from devstack.demo import load_dag

    dag = load_dag()
    env = dag.get_template_env()
    for task in dag.task_group_dict["checks"].iter_tasks():
        _CHECKS.append((env.from_string(task.sql).render(params=task.params), task.parameters))


def stage_checks() -> int:
    """Every check of the DAG, run as its operator runs it."""
    from devstack.stack import Stack

    with Stack().connect_warehouse() as conn:
        failed = [sql for sql, parameters in _CHECKS if not all(conn.execute(sql, parameters).fetchone())]
    if failed:
        raise RuntimeError(f"{len(failed)} checks failed")
    return 0


# Each stage: the step that warms the process up (not timed as work), and the stage itself.
STAGES = {
    "drain": (None, stage_drain),
    "load": (None, stage_load),
    "dbt": (warm_dbt, stage_dbt),
    "checks": (warm_checks, stage_checks),
}


def measure_stage(name: str) -> dict[str, float]:
    """Run one stage in this process (``python -m devstack.bench --stage NAME``): its work seconds, the
    events it reported and the process's peak resident memory."""
    from include.cdc.airflow import tasks  # noqa: F401 (the task modules' imports are start-up, not work)

    warm, stage = STAGES[name]
    if warm:
        warm()
    started = time.perf_counter()
    events = stage()
    work = time.perf_counter() - started
    # Peak resident memory as the process saw it (VmHWM): rusage's maxrss of the parent would count the
    # pages it shared with the (large) benchmark process between fork and exec.
    status = Path("/proc/self/status").read_text().splitlines()
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    # dbt runs in a process of its own (its own virtualenv): the largest child counts as the stage's peak.
    peak_kb = max(peak_kb, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {"work_seconds": work, "events": events, "peak_rss_mb": peak_kb / 1024}


def in_fresh_process(option: list[str], env: dict[str, str]) -> tuple[float, dict]:
    """Wall seconds of ``python -m devstack.bench <option>`` and the JSON it printed last."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "devstack.bench", *option], cwd=REPO, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(option)} failed:\n{result.stderr[-3000:]}")
    return seconds, json.loads(result.stdout.strip().splitlines()[-1])


def run_stage(name: str, env: dict[str, str]) -> tuple[float, float, float, int]:
    """(wall seconds, work seconds, peak resident MB, events it reported) of one stage in a fresh process.

    Work excludes the process's start-up: imports, and a stage's warm-up (dbt's own start-up and parse,
    rendering the checks); the wall time includes everything."""
    seconds, measured = in_fresh_process(["--stage", name], env)
    return seconds, measured["work_seconds"], measured["peak_rss_mb"], measured["events"]
