"""``python -m devstack.bench``: a whole run, or one stage or the dbt group in this process (what a run
starts in processes of its own, printing JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from devstack.bench import __doc__ as about
from devstack.bench.run import DBT_GROUP_RATIOS, run
from devstack.bench.stages import REPO, STAGES, dbt_group_seconds, measure_stage


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.bench", description=about.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--parse-rounds", type=int, default=3, help="fresh interpreters per kind for the DAG parse figures"
    )
    parser.add_argument(
        "--dbt-modes",
        default=",".join(DBT_GROUP_RATIOS),
        help="the Cosmos modes whose dbt task group is timed (comma-separated): watcher, local",
    )
    # What the benchmark runs in processes of their own, printing JSON:
    parser.add_argument("--stage", choices=STAGES, help="measure one stage in this process")
    parser.add_argument("--dbt-group", action="store_true", help="time the DAG's dbt task group")
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(measure_stage(args.stage)))
    elif args.dbt_group:
        print(json.dumps({"seconds": dbt_group_seconds()}))
    else:
        out = args.out or REPO / "benchmarks" / "results" / f"bench-{args.events}.json"
        modes = tuple(mode.strip() for mode in args.dbt_modes.split(",") if mode.strip())
        if not modes or set(modes) - set(DBT_GROUP_RATIOS):
            parser.error(f"--dbt-modes takes {' and/or '.join(DBT_GROUP_RATIOS)}, not {args.dbt_modes!r}")
        run(args.events, out, parse_rounds=args.parse_rounds, dbt_modes=modes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
