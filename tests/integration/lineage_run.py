"""One DAG run in a process of its own, for the lineage test: OpenLineage reads its transport once per
process, and the rest of the suite runs with none. Exits 1, naming the failed tasks, when the run failed."""

from __future__ import annotations

import sys

from devstack.dag_runner import run_dag
from devstack.demo import load_dag


def main() -> int:
    run = run_dag(load_dag())
    if not run.succeeded:
        print(f"failed tasks: {run.failed_tasks()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
