"""Settings that are not secrets, with defaults, overridable through ``PRODUCT_CDC_*`` variables.

Secrets never live here: every host, login and password comes from an Airflow connection, and this
module only names the connection ids. Environment variables are read when the DAG file is parsed,
which touches neither the metadata database nor the network (Astro deployments set them in the
Deployment's environment or in ``.env``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path

from include.cdc.contract import SourceTable, load_contract
from include.cdc.errors import ConfigurationError

ENV_PREFIX = "PRODUCT_CDC_"

# Identifiers that end up in object keys, topic names or SQL must look like identifiers.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_PREFIX = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._=-]*/)*$")


DBT_MODES = ("watcher", "local")
# The Airflow project's folder: this repository, and /usr/local/airflow in the Astro image.
PROJECT_DIR = Path(__file__).resolve().parents[2]
# dbt in a virtualenv of its own (requirements-dbt.txt), apart from Airflow's: `make` and the Dockerfile
# build it here.
DEFAULT_DBT_EXECUTABLE = PROJECT_DIR / ".venv-dbt" / "bin" / "dbt"
# The dbt manifest the DAG's dbt task group is rendered from, built by `make manifest` and the Dockerfile.
# Outside include/: `astro dev start` bind-mounts the working tree's include/ over the image's.
DBT_MANIFEST = PROJECT_DIR / "dbt_target" / "manifest.json"


class SettingsError(ConfigurationError):
    """A PRODUCT_CDC_* variable has a value the pipeline cannot use."""


@dataclass(frozen=True)
class Settings:
    # Airflow connection ids (the connections hold every credential).
    kafka_conn_id: str = "cord_kafka"
    s3_conn_id: str = "cord_minio"
    warehouse_conn_id: str = "cord_warehouse"
    kafka_connect_conn_id: str = "cord_kafka_connect"
    smtp_conn_id: str = "cord_smtp"
    superset_conn_id: str = "cord_superset"  # the bi_refresh DAG's; none defined: it skips

    # Where the events come from.
    connector_name: str = "sqlserver-product-v2"
    topic_prefix: str = "cord"
    source_database: str = "ConcordDb"

    # Where they land.
    bucket: str = "cord-raw"
    # Per captured table, objects go under <table slug>/<raw_prefix> (product/raw/ for dbo.Product).
    raw_prefix: str = "raw/"
    quarantine_prefix: str = "quarantine/"
    batch_size: int = 5000
    gzip_level: int = 1  # ISA-L's levels: 0 to 3

    # Bounds of one run.
    max_events_per_run: int = 0  # 0: no cap
    max_quarantined_per_run: int = 100  # more quarantined records fail the run (after loading the rest)
    load_connections: int = 2  # the bronze load's connections working at once (partitions in parallel)
    dbt_threads: int = 4  # models and tests dbt runs at once in the warehouse
    # The dbt program the dbt tasks run (via include/dbt/bin/dbt-task); `make` builds the manifest with it.
    dbt_executable: str = str(DEFAULT_DBT_EXECUTABLE)
    dbt_mode: str = "watcher"  # Cosmos's execution mode: watcher (one dbt build) or local (one per model)
    # The executor queue of the tasks that run dbt (watcher: the dbt build; local: every dbt task), for
    # workers sized for dbt. Empty: Airflow's default queue, like every other task.
    dbt_queue: str = ""
    # How long a dbt command waits for the warehouse's build lock, held by another build, before failing.
    dbt_lock_wait_seconds: float = 300.0
    kafka_timeout_seconds: float = 30.0
    http_timeout_seconds: float = 10.0
    # A chart's warm-up runs its query in the warehouse, through Superset.
    superset_warm_up_timeout_seconds: float = 120.0
    # The Superset database (its name in Superset) whose datasets read the warehouse; empty: the datasets
    # on the marts' tables in every Superset database.
    superset_database: str = ""

    # Runs started by new changes (an Asset watched in the triggerer), besides the 6-hourly schedule: at
    # most one per interval, so that a busy source starts a run every interval, not every record.
    run_on_new_changes: bool = True
    min_run_interval_minutes: float = 15.0

    # Checks and alerts.
    # Unset: the refresh procedure's 1 hour plus the run interval (a change waits at most one interval
    # for its run). The dbt bronze sources' error_after says the same for the default interval.
    freshness_max_age_hours: float | None = None
    min_multilingual_share: float = 0.3  # share of active products named in UA, PL, EN and DE
    max_supplier_share: float = 0.5  # no supplier bucket above this share of active products ...
    dominant_suppliers: tuple[str, ...] = ()  # ... unless it is listed here
    max_for_sale_shift: float = 0.1  # alarm when the for-sale share moves more than this between runs
    alert_recipients: tuple[str, ...] = ("data-alerts@example.com",)
    alert_from: str = "airflow@example.com"
    deadline_minutes: float = 120.0
    retries: int = 2
    retry_delay_seconds: float = 60.0

    contract: tuple[SourceTable, ...] = field(default_factory=load_contract, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("connector_name", "topic_prefix", "source_database", "bucket"):
            if not _NAME.match(getattr(self, name)):
                raise SettingsError(f"{ENV_PREFIX}{name.upper()}={getattr(self, name)!r} is not a valid name")
        for name in ("raw_prefix", "quarantine_prefix"):
            value = getattr(self, name)
            if not value or not _PREFIX.match(value):
                raise SettingsError(
                    f"{ENV_PREFIX}{name.upper()}={value!r}: use path segments ending in '/', e.g. 'raw/'"
                )
        if self.raw_prefix == self.quarantine_prefix:
            raise SettingsError("the raw and quarantine prefixes must differ")
        if not 1 <= self.batch_size <= 1_000_000:
            raise SettingsError(f"{ENV_PREFIX}BATCH_SIZE must be between 1 and 1,000,000")
        if not 1 <= self.load_connections <= 16:
            raise SettingsError(f"{ENV_PREFIX}LOAD_CONNECTIONS must be between 1 and 16")
        if self.dbt_mode not in DBT_MODES:
            raise SettingsError(f"{ENV_PREFIX}DBT_MODE={self.dbt_mode!r}: use one of {', '.join(DBT_MODES)}")
        if not self.dbt_executable:
            raise SettingsError(f"{ENV_PREFIX}DBT_EXECUTABLE is empty: name the dbt program to run")
        if self.dbt_queue and not _NAME.match(self.dbt_queue):
            raise SettingsError(f"{ENV_PREFIX}DBT_QUEUE={self.dbt_queue!r} is not a valid queue name")
        if not 1 <= self.dbt_threads <= 32:
            raise SettingsError(f"{ENV_PREFIX}DBT_THREADS must be between 1 and 32")
        if not 0 <= self.dbt_lock_wait_seconds <= 86_400:
            raise SettingsError(f"{ENV_PREFIX}DBT_LOCK_WAIT_SECONDS must be between 0 and 86,400")
        if self.max_quarantined_per_run < 0:
            raise SettingsError(f"{ENV_PREFIX}MAX_QUARANTINED_PER_RUN must be 0 or positive")
        if self.max_events_per_run < 0:
            raise SettingsError(f"{ENV_PREFIX}MAX_EVENTS_PER_RUN must be 0 (no cap) or positive")
        if not 0 <= self.gzip_level <= 3:
            raise SettingsError(f"{ENV_PREFIX}GZIP_LEVEL must be between 0 and 3 (ISA-L's levels)")
        if not 0 < self.min_run_interval_minutes <= 1440:
            raise SettingsError(f"{ENV_PREFIX}MIN_RUN_INTERVAL_MINUTES must be above 0 and at most 1440")
        if self.freshness_max_age_hours is None:
            object.__setattr__(self, "freshness_max_age_hours", 1 + self.min_run_interval_minutes / 60)
        if not self.freshness_max_age_hours > 0:
            raise SettingsError(f"{ENV_PREFIX}FRESHNESS_MAX_AGE_HOURS must be above 0")
        for name in ("min_multilingual_share", "max_supplier_share", "max_for_sale_shift"):
            if not 0 <= getattr(self, name) <= 1:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()} is a share: between 0 and 1")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None or f.name == "contract":
                continue
            try:
                if f.type == "bool":
                    values[f.name] = raw.strip().lower() in {"1", "true", "yes", "on"}
                elif f.type == "int":
                    values[f.name] = int(raw)
                elif f.type.startswith("float"):
                    values[f.name] = float(raw)
                elif f.type.startswith("tuple"):
                    values[f.name] = tuple(part.strip() for part in raw.split(",") if part.strip())
                else:
                    values[f.name] = raw.strip()
            except ValueError as exc:
                raise SettingsError(f"{ENV_PREFIX}{f.name.upper()}={raw!r}: {exc}") from exc
        return cls(**values)

    def topic(self, table: SourceTable) -> str:
        return table.topic(self.topic_prefix, self.source_database)

    def raw_prefix_for(self, table: SourceTable) -> str:
        return f"{table.slug}/{self.raw_prefix}"

    def quarantine_prefix_for(self, table: SourceTable) -> str:
        return f"{table.slug}/{self.quarantine_prefix}"

    @property
    def deadline(self) -> timedelta:
        return timedelta(minutes=self.deadline_minutes)

    @property
    def min_run_interval(self) -> timedelta:
        return timedelta(minutes=self.min_run_interval_minutes)

    @property
    def retry_delay(self) -> timedelta:
        return timedelta(seconds=self.retry_delay_seconds)
