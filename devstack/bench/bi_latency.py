"""Change → dashboard latency: from a change produced to Kafka to Superset's dashboard showing it, with
nobody clicking anything.

On the benchmark's stack, with Superset: a real Airflow (scheduler, triggerer) runs product_cdc_sync on
new changes (the watcher, at most once per ``--interval-seconds``) and bi_refresh on the marts' Assets.
Each round produces changes until the generator's active products differ from what the dashboard's Big
Number "Active products" shows, then reads that chart's data every second as the dashboard asks for it
(Superset's cache, no force; the dashboard's request has the same cache key) until it shows the new
number. ``python -m devstack.bench.bi_latency`` writes benchmarks/results/bi-latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from devstack.stacks import REPO, stack_env

for _name, _value in stack_env("bench").items():
    os.environ.setdefault(_name, _value)

from devstack.demo import prepare_airflow  # noqa: E402 (needs the variables above)
from devstack.stack import Stack  # noqa: E402
from devstack.stack.local_airflow import AirflowServices  # noqa: E402
from devstack.synth.feed import ensure_topic, produce  # noqa: E402
from devstack.synth.generator import ChangeEventGenerator, GeneratorOptions  # noqa: E402
from devstack.verify import expected_mart_copies  # noqa: E402

SYNC, BI = "product_cdc_sync", "bi_refresh"
BIG_NUMBER = "Active products"


class Dashboard:
    """The Big Number as the dashboard gets it: the chart's data from Superset's cache."""

    def __init__(self, stack: Stack) -> None:
        self.url = stack.superset.url
        self.session = stack.superset.session()
        charts = self.session.get(f"{self.url}/api/v1/chart/", params={"q": "(page_size:100)"}, timeout=60)
        charts.raise_for_status()
        (self.chart,) = [c["id"] for c in charts.json()["result"] if c["slice_name"] == BIG_NUMBER]

    def shows(self) -> int | None:
        answer = self.session.get(f"{self.url}/api/v1/chart/{self.chart}/data/", timeout=120)
        if answer.status_code != 200:
            return None  # the marts are not built yet
        return answer.json()["result"][0]["data"][0]["count"]


def wait_for(dashboard: Dashboard, number: int, timeout: float) -> float:
    """Seconds until the dashboard shows ``number``."""
    start = time.monotonic()
    while dashboard.shows() != number:
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"the dashboard did not show {number} within {timeout:g} s")
        time.sleep(1)
    return time.monotonic() - start


def measure(rounds: int, interval_seconds: float) -> dict:
    stack = Stack()
    stack.up(superset=True)
    name = uuid.uuid4().hex[:8]
    database, prefix = f"bi_latency_{name}", f"l{name}"
    env = stack.connections_apart(database, f"group-{name}")
    stack.superset.grant_bi_reader(database)
    stack.superset.import_bundle(database)
    env |= {
        "PRODUCT_CDC_TOPIC_PREFIX": prefix,
        "PRODUCT_CDC_RUN_ON_NEW_CHANGES": "true",
        "PRODUCT_CDC_MIN_RUN_INTERVAL_MINUTES": str(interval_seconds / 60),
        "PRODUCT_CDC_SUPERSET_DATABASE": "Cord warehouse",
    }
    generator = ChangeEventGenerator(GeneratorOptions(topic_prefix=prefix, products=30, events=400 * rounds))
    batches = generator.batches()
    for topic in generator.topics.values():
        ensure_topic(stack.kafka.bootstrap, topic, 3)
    prepare_airflow(stack)  # this process reads Airflow's metadata database too
    airflow = AirflowServices(
        stack,
        extra_env={**env, "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"},
        scheduled_runs=True,
    )
    airflow.start()
    seconds = []
    try:
        since = datetime.now(UTC)
        airflow.wait_for_dag(SYNC)
        airflow.fail_the_due_cron_run(SYNC, since)
        airflow.wait_for_dag(BI)
        dashboard = Dashboard(stack)
        for _ in range(rounds + 1):  # the first round builds the marts, and is not counted
            shown = dashboard.shows()
            produce(stack.kafka.bootstrap, next(batches))
            while (active := len(expected_mart_copies(generator, ()))) == shown:
                produce(stack.kafka.bootstrap, next(batches))
            seconds.append(wait_for(dashboard, active, timeout=1800))
            print(f"the dashboard showed {active} active products {seconds[-1]:.1f} s after the change")
    finally:
        airflow.set_paused(BI, True)
        airflow.stop()
        stack.postgres.psql(f"drop database if exists {database} with (force);")
    measured = seconds[1:]
    return {
        "interval_seconds": interval_seconds,
        "rounds": len(measured),
        "seconds": [round(s, 1) for s in measured],
        "median_seconds": round(statistics.median(measured), 1),
        "max_seconds": round(max(measured), 1),
        "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.bench.bi_latency", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval-seconds", type=float, default=15)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bi-latency.json")
    args = parser.parse_args()
    figures = measure(args.rounds, args.interval_seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
