"""What a task start pays to parse the DAG file: fresh interpreters, as a worker runs them.

A task's process imports Airflow's task runner, loads the plugins (its listeners) and then parses the
DAG file. ``cold`` does exactly that. ``baseline`` does the same with cosmos imported and an empty DAG
folder, so cold / baseline is what the DAG file adds. ``sdk_and_cosmos`` is a bare
``import airflow.sdk, cosmos``, the floor of any interpreter that parses a Cosmos DAG. Each figure is
the median wall time of whole interpreters, start to exit, the kinds run in turn so that load on the
machine falls on all of them alike. ``four_at_once`` is the slowest of four cold parses started together,
as when four dbt tasks start at once: it must stay far below Airflow's DagBag import timeout.
``importtime_top10`` is where a cold start's imports spend their time (``python -X importtime``), and
``bytecode_compiled`` says whether the interpreters read Airflow's compiled bytecode or compiled it from
source, which doubled every figure here (docs/benchmark.md).

    python -m devstack.bench.dag_parse [--rounds 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
KINDS = ("sdk_and_cosmos", "baseline", "cold")
IMPORT_TIMEOUT_SECONDS = 30.0  # Airflow's [core] dagbag_import_timeout default


@dataclass
class ParseTimes:
    sdk_and_cosmos_seconds: float
    baseline_seconds: float
    cold_seconds: float
    four_at_once_seconds: float
    rounds: int
    importtime_top10: list[dict[str, object]]
    bytecode_compiled: bool

    @property
    def dag_file_ratio(self) -> float:
        """What the DAG file adds to a task start's parse: cold / baseline."""
        return self.cold_seconds / self.baseline_seconds

    @property
    def four_at_once_vs_import_timeout(self) -> float:
        return self.four_at_once_seconds / IMPORT_TIMEOUT_SECONDS

    def to_json(self) -> dict:
        return asdict(self) | {
            "dag_file_ratio": self.dag_file_ratio,
            "four_at_once_vs_import_timeout": self.four_at_once_vs_import_timeout,
        }


def _worker_start() -> None:
    from airflow.sdk.execution_time import task_runner  # noqa: F401
    from airflow.sdk.listener import get_listener_manager

    get_listener_manager()  # loads the plugins, as the task runner does before it parses


def _parse(folder: Path) -> dict[str, object]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(folder))
    if bag.import_errors:
        raise SystemExit(f"the DAG folder {folder} does not import: {bag.import_errors}")
    return bag.dags


def _child(kind: str) -> None:
    import airflow.sdk  # noqa: F401

    if kind == "sdk_and_cosmos":
        import cosmos
    elif kind == "baseline":
        import cosmos  # noqa: F401

        _worker_start()
        with tempfile.TemporaryDirectory() as empty:
            _parse(Path(empty))
    elif kind == "cold":
        _worker_start()
        _parse(DAGS)


def modules_the_dag_file_imports() -> list[str]:
    """Top-level packages a task start imports only because of the DAG file (in a fresh interpreter)."""
    import airflow.sdk  # noqa: F401
    import cosmos  # noqa: F401

    _worker_start()
    before = {name.split(".")[0] for name in sys.modules}
    _parse(DAGS)
    return sorted({name.split(".")[0] for name in sys.modules} - before)


def environment(airflow_home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "PYTHONPATH": str(REPO),
    }


def _children(kind: str, count: int, env: dict[str, str]) -> float:
    """Wall seconds until the last of ``count`` interpreters of one kind, started together, has exited."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "devstack.bench.dag_parse", "--child", kind]
    processes = [
        subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(count)
    ]
    for process in processes:
        _, stderr = process.communicate()
        if process.returncode:
            raise subprocess.CalledProcessError(process.returncode, command, stderr=stderr)
    return time.perf_counter() - started


def importtime_top(env: dict[str, str], count: int = 10) -> list[dict[str, object]]:
    """The modules that take longest to import themselves (their own time, beside the time with what they
    import) in one cold task start, from ``python -X importtime``."""
    command = [sys.executable, "-X", "importtime", "-m", "devstack.bench.dag_parse", "--child", "cold"]
    started = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    modules = []
    for line in started.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(fields) != 3 or not fields[0].strip().isdigit():
            continue  # the header, or anything else the start wrote
        own, cumulative, module = fields
        modules.append(
            {
                "module": module.strip(),
                "self_seconds": int(own) / 1e6,
                "cumulative_seconds": int(cumulative) / 1e6,
            }
        )
    return sorted(modules, key=lambda m: m["self_seconds"], reverse=True)[:count]


def bytecode_compiled() -> bool:
    """Whether Airflow's compiled bytecode is on disk, where an interpreter finds it instead of compiling."""
    spec = importlib.util.find_spec("airflow.configuration")
    return spec is not None and spec.cached is not None and Path(spec.cached).exists()


def measure(rounds: int, airflow_home: Path) -> ParseTimes:
    env = environment(airflow_home)
    seconds: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(rounds):
        for kind in KINDS:
            seconds[kind].append(_children(kind, 1, env))
    medians = {kind: statistics.median(values) for kind, values in seconds.items()}
    return ParseTimes(
        sdk_and_cosmos_seconds=medians["sdk_and_cosmos"],
        baseline_seconds=medians["baseline"],
        cold_seconds=medians["cold"],
        four_at_once_seconds=_children("cold", 4, env),
        rounds=rounds,
        importtime_top10=importtime_top(env),
        bytecode_compiled=bytecode_compiled(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.bench.dag_parse", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--modules", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
    elif args.modules:
        print(json.dumps(modules_the_dag_file_imports()))
    else:
        with tempfile.TemporaryDirectory() as home:
            times = measure(args.rounds, Path(home))
        print(json.dumps(times.to_json(), indent=2))


if __name__ == "__main__":
    main()
