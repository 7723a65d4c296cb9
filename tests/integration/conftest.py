"""The real local stack for integration tests, an isolated corner of it for each test, a real Airflow
on it, and a browser for the tests that use a UI.

Each test gets its own warehouse database, topic prefix and consumer group, set through the same
``AIRFLOW_CONN_*`` and ``PRODUCT_CDC_*`` variables a deployment uses, so tests never see each
other's data and the pipeline code runs exactly as in Airflow.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pytest
from psycopg.rows import dict_row

from devstack.demo import ensure_airflow_db
from devstack.stack import Stack
from devstack.stack.celery_workers import CeleryWorkers
from devstack.stack.config import AIRFLOW_DB
from devstack.stack.local_airflow import AirflowServices
from devstack.synth.debezium_encoding import Message
from devstack.synth.feed import ensure_topic, produce
from devstack.synth.generator import ChangeEventGenerator, GeneratorOptions
from include.cdc.archive.landing import read_records
from include.cdc.contract import load_contract, table
from include.cdc.settings import Settings
from tests.integration import browser


@pytest.fixture(scope="session")
def stack():
    stack = Stack()
    stack.up()
    yield stack
    if not os.environ.get("PRODUCT_CDC_KEEP_TEST_STACK"):
        stack.down()


@pytest.fixture(scope="session")
def superset(stack):
    """The stack's Superset, started once for the tests that use it (it takes a minute); stopped with the
    stack."""
    stack.superset.start()
    return stack.superset


def leaked_secrets(stack: Stack, text: str) -> list[str]:
    """Which of the stack's credentials appear in ``text`` (names only, never the values)."""
    secrets = stack.secrets
    values = {
        "warehouse_password": secrets.warehouse_password,
        "airflow_db_password": secrets.airflow_db_password,
        "s3_secret_key": secrets.s3_secret_key,
        "smtp_password": secrets.smtp_password,
        "fernet_key": secrets.fernet_key,
        "redis_password": secrets.redis_password,
        "kafka_password": secrets.kafka_password,
        "superset_db_password": secrets.superset_db_password,
        "superset_secret_key": secrets.superset_secret_key,
        "superset_admin_password": secrets.superset_admin_password,
        "bi_reader_password": secrets.bi_reader_password,
    }
    return [name for name, value in values.items() if value and value in text]


@dataclass
class Corner:
    """One test's share of the stack."""

    stack: Stack
    database: str
    topic_prefix: str
    group: str

    @property
    def settings(self) -> Settings:
        return Settings.from_env()

    @property
    def topic(self) -> str:
        """The topic of dbo.Product."""
        return self.settings.topic(table("Product"))

    @property
    def topics(self) -> list[str]:
        return [self.settings.topic(t) for t in load_contract()]

    def environment(self) -> dict[str, str]:
        """The variables that point the pipeline at this corner (connections and ``PRODUCT_CDC_*``), for
        processes started with the stack's own environment, such as a real Airflow's."""
        return {k: v for k, v in os.environ.items() if k.startswith(("AIRFLOW_CONN_", "PRODUCT_CDC_"))}

    def bronze_rows(self) -> int:
        """Rows in every bronze table together."""
        return sum(self.scalar(f"select count(*) from bronze.{t.bronze_table}") for t in load_contract())

    def connect(self) -> psycopg.Connection:
        return self.stack.connect_warehouse(self.database, row_factory=dict_row, autocommit=True)

    def query(self, sql: str, *params) -> list[dict]:
        with self.connect() as conn:
            return conn.execute(sql, params).fetchall()

    def execute(self, sql: str, *params) -> None:
        with self.connect() as conn:
            conn.execute(sql, params)

    def scalar(self, sql: str, *params):
        return next(iter(self.query(sql, *params)[0].values()))

    def generator(self, **options) -> ChangeEventGenerator:
        return ChangeEventGenerator(GeneratorOptions(topic_prefix=self.topic_prefix, **options))

    def produce(self, messages: list[Message], partitions: int = 3, transaction_size: int = 0) -> int:
        for topic in self.topics:
            ensure_topic(self.stack.kafka.bootstrap, topic, partitions)
        return produce(self.stack.kafka.bootstrap, messages, transaction_size)

    def produce_until(self, batches: Iterator[list[Message]], count: int) -> list[Message]:
        """Produce whole batches until at least ``count`` messages went out; the generator's state then
        is the source's state at that point. The rest of ``batches`` is left for later."""
        sent: list[Message] = []
        for batch in batches:
            sent += batch
            if len(sent) >= count:
                break
        self.produce(sent)
        return sent

    def reemit_a_landed_record(self, table_name: str) -> None:
        """Produce again a record the archive holds, as Kafka Connect re-emits changes after a restart:
        bronze gets a row at a new offset, and the source's state does not change."""
        captured = table(table_name)
        prefix = f"{self.settings.raw_prefix_for(captured)}topic={self.settings.topic(captured)}/"
        key = sorted(self.bucket_keys(prefix))[0]
        body = self.stack.s3.client().get_object(Bucket="cord-raw", Key=key)["Body"].read()
        record = next(r for r in read_records(key, body) if not r.is_tombstone)
        again = Message(
            record.topic,
            record.partition,
            record.key_bytes or (record.key or "").encode(),
            record.raw_value(),
            [],
            record.timestamp_ms or int(time.time() * 1000),
        )
        self.produce([again])

    def raw_keys(self) -> list[str]:
        """Keys of this test's landed objects."""
        return self.bucket_keys(f"product/raw/topic={self.topic}/")

    def archive_keys(self) -> list[str]:
        """Keys of this test's landed objects, every table."""
        settings = self.settings
        return [
            key
            for table in load_contract()
            for key in self.bucket_keys(f"{settings.raw_prefix_for(table)}topic={settings.topic(table)}/")
        ]

    def bucket_keys(self, prefix: str) -> list[str]:
        client = self.stack.s3.client()
        paginator = client.get_paginator("list_objects_v2")
        return [
            o["Key"]
            for page in paginator.paginate(Bucket="cord-raw", Prefix=prefix)
            for o in page.get("Contents", [])
        ]


_open_corners: list[str] = []


@contextmanager
def new_corner(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Corner]:
    """A corner of the stack, set in the environment through ``monkeypatch``, dropped on the way out.

    Topics and consumer group are new for each corner. The database is new too, but its name is not:
    the same for every test's corner on a stack (``wh_<its port>_0``; ``_1`` for one opened while another
    is open), because dbt reuses its parse of the project only on the connection it was made with. So
    each dbt process after a worker's first parses only what changed (about 2 s less each). The port
    keeps the name apart from other workers' (tests find their dbt processes by it)."""
    name = uuid.uuid4().hex[:10]
    database = f"wh_{stack.ports.postgres}_{len(_open_corners)}"
    stack.postgres.psql(f"drop database if exists {database} with (force);")  # a crashed test's
    _open_corners.append(database)
    try:
        for variable, value in stack.connections_apart(database, f"group-{name}").items():
            monkeypatch.setenv(variable, value)
        monkeypatch.setenv("PRODUCT_CDC_TOPIC_PREFIX", f"t{name}")
        monkeypatch.setenv("PRODUCT_CDC_BATCH_SIZE", "1000")
        # No runs started by new changes: a test triggers the runs it checks (test_runs_on_new_changes.py
        # turns them on).
        monkeypatch.setenv("PRODUCT_CDC_RUN_ON_NEW_CHANGES", "false")
        yield Corner(stack, database, f"t{name}", f"group-{name}")
    finally:
        _open_corners.remove(database)
        stack.postgres.psql(f"drop database if exists {database} with (force);")


@pytest.fixture
def corner(stack, monkeypatch):
    with new_corner(stack, monkeypatch) as corner:
        yield corner


@contextmanager
def real_airflow(
    stack: Stack,
    extra_env: dict[str, str],
    workers: CeleryWorkers | None = None,
    scheduled_runs: bool = False,
) -> Iterator[AirflowServices]:
    """A real Airflow (API server, scheduler, DAG processor, triggerer) on the stack, with ``extra_env``
    over the stack's environment; with ``workers``, the CeleryExecutor and those workers (and Redis).
    It starts no scheduled run unless ``scheduled_runs``: only the runs a test triggers. DAGs are paused
    when first parsed, so that only the DAGs a test unpauses run: ``bi_refresh`` would otherwise follow
    every green run (with ``scheduled_runs``: the scheduler creates asset-triggered runs on that switch)."""
    ensure_airflow_db(stack)
    # The metadata database outlives a session, and so do the asset watchers of an earlier session's DAG.
    # The triggerer would start them before this Airflow parses the DAG, and an earlier test's topics,
    # read with this test's consumer group, would start a run. Parsing the DAG makes this test's watchers.
    stack.postgres.psql("delete from trigger where id in (select trigger_id from asset_watcher)", AIRFLOW_DB)
    extra_env = {
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # The test workers' Airflows share the machine's cores (make test), and four task starts at once
        # already take 7.7-8.5 s to parse the DAG on a quiet 2-core machine (docs/benchmark.md).
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        **extra_env,
    }
    services = AirflowServices(stack, extra_env=extra_env, workers=workers, scheduled_runs=scheduled_runs)
    services.start()  # stops what it started when it fails
    try:
        yield services
    finally:
        services.stop()


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


@pytest.fixture(scope="module")
def chromium():
    with browser.chromium() as chromium:
        yield chromium


@pytest.fixture
def page(chromium, request):
    """A browser page; when the test fails, what it showed last is saved as ``<test>--failed.png``."""
    with browser.new_page(chromium) as page:
        yield page
        if request.node.stash.get(FAILED, False):
            browser.screenshot(page, f"{request.node.name}--failed")
