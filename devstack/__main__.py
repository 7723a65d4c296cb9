"""Command line of the local stack: ``python -m devstack <command>`` (see ``--help``)."""

from __future__ import annotations

import argparse
import shlex
import sys

from devstack import docs as dbt_docs
from devstack.stack import Stack, StackError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description="The local stack on loopback.")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start PostgreSQL, Kafka, S3, Kafka Connect and the SMTP sink")
    up.add_argument("--superset", action="store_true", help="and Superset with the marts' dashboard")
    commands.add_parser(
        "superset",
        help="start the stack and Superset (admin's password: secrets.json) with the marts' dashboard "
        "imported from include/superset; it keeps running until `down`",
    )
    commands.add_parser("down", help="stop Airflow and every service (data stays for the next 'up')")
    commands.add_parser("reset", help="stop every service and delete all stack data")
    commands.add_parser(
        "env",
        help="print the Airflow environment (connections included) and what include/dbt/profiles.yml "
        "reads (CORD_WAREHOUSE_*) as shell exports, for eval",
    )
    airflow = commands.add_parser(
        "airflow",
        help="run Airflow (UI, scheduler, DAG processor, triggerer) until Ctrl-C; "
        "CORD_AIRFLOW_EXECUTOR=celery runs the CeleryExecutor with Redis and two Celery workers",
    )
    airflow.add_argument(
        "--scheduled-runs",
        action="store_true",
        help="let the scheduler start the 6-hourly runs (off by default: only the runs you trigger)",
    )
    docs = commands.add_parser(
        "docs", help="generate the dbt docs with the warehouse's catalog and serve them until Ctrl-C"
    )
    docs.add_argument(
        "--port", type=int, default=dbt_docs.DOCS_PORT, help="default: %(default)s (CORD_STACK_DOCS_PORT)"
    )
    feed = commands.add_parser("feed", help="produce generated Debezium change events into the stack's Kafka")
    feed.add_argument("--partitions", type=int, default=3)
    demo = commands.add_parser(
        "demo", help="start the stack, feed events, run the DAG once, print layer counts"
    )
    demo.add_argument(
        "--compare-refresh",
        action="store_true",
        help="also time an incremental run (1%% new events) and a full refresh",
    )
    for command in (feed, demo):
        command.add_argument("--products", type=int, default=115, help="rows active at the end")
        command.add_argument("--events", type=int, default=31_970, help="change events in all")
        command.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    stack = Stack()
    try:
        if args.command == "up":
            stack.up(superset=args.superset)
            print(f"stack up in {stack.dir}; `python -m devstack env` prints the Airflow and dbt environment")
        elif args.command == "superset":
            stack.up(superset=True)
            print(
                f"Superset is up at {stack.superset.url} (user admin, password: superset_admin_password in "
                f"{stack.dir / 'secrets.json'}); `python -m devstack down` stops it"
            )
        elif args.command == "down":
            stack.down()
        elif args.command == "reset":
            stack.reset()
        elif args.command == "env":
            # To stdout only, for `eval`, like the connections (which hold the same password): never logged.
            for name, value in {**stack.airflow_env(), **stack.dbt_env()}.items():
                print(f"export {name}={shlex.quote(value)}")
        elif args.command == "airflow":
            from devstack.demo import prepare_airflow
            from devstack.stack.local_airflow import serve

            prepare_airflow(stack)
            serve(stack, args.scheduled_runs)
        elif args.command == "docs":
            dbt_docs.serve(stack, args.port)
        elif args.command == "feed":
            from devstack.synth.feed import feed as produce_events
            from devstack.synth.generator import GeneratorOptions

            options = GeneratorOptions(
                products=args.products, events=args.events, seed=args.seed, partitions=args.partitions
            )
            generator = produce_events(stack.kafka.bootstrap, options)
            for table, counts in generator.counts.items():
                print(f"{generator.topics[table]}: {counts}")
        elif args.command == "demo":
            from devstack.demo import run_demo

            return run_demo(stack, args.products, args.events, args.seed, args.compare_refresh)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
