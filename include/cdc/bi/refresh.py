"""What a BI refresh does once the marts changed: Superset's charts show the new numbers at once.

For every physical dataset on a mart: its metadata is refreshed only when the mart's columns differ from
the dataset's (a refresh rewrites Superset's column list, and is needless on most runs); then the cached
results of every dataset that reads a mart (a virtual one: its SQL names the mart) are invalidated
together, and each chart on them is warmed up (its
query run now, forced, and cached), so the first person who opens a dashboard does not wait. A chart
whose warm-up fails is named; the others are warmed all the same.

The forced warm-up is what renews a chart's saved query: Superset's invalidation drops only the cache
keys it recorded, and it records them only with STORE_CACHE_KEYS_IN_METADATA_DB (off by default).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import psycopg

from include.cdc.bi.superset import Chart, Dataset, SupersetClient, SupersetError
from include.cdc.sqlfiles import statement

log = logging.getLogger(__name__)


class ChartWarmUpError(SupersetError):
    """Charts whose query failed in the warm-up: retried (a busy warehouse); a chart that reads a column
    the mart lost needs editing in Superset."""


@dataclass
class RefreshReport:
    datasets: list[str] = field(default_factory=list)  # "<mart> (dataset <id>, database <name>)"
    metadata_refreshed: list[str] = field(default_factory=list)
    charts_warmed: list[int] = field(default_factory=list)

    def to_xcom(self) -> dict:
        return {
            "datasets": self.datasets,
            "metadata_refreshed": self.metadata_refreshed,
            "charts_warmed": self.charts_warmed,
        }


def mart_columns(conn: psycopg.Connection, marts: Sequence[str]) -> dict[str, list[str]]:
    """Each mart's columns in the warehouse, in order; a mart that does not exist is left out."""
    columns: dict[str, list[str]] = {}
    for mart, column in conn.execute(statement("marts/columns.sql", "mart_columns"), {"marts": list(marts)}):
        columns.setdefault(mart, []).append(column)
    return columns


def columns_changed(dataset_columns: Sequence[str], warehouse_columns: Sequence[str]) -> bool:
    """Whether Superset's columns for a mart are not the warehouse's (added, dropped or renamed)."""
    return set(dataset_columns) != set(warehouse_columns)


def reads_a_mart(dataset: Dataset, marts: Sequence[str]) -> bool:
    """A physical dataset on a mart's table, or a virtual one whose SQL names a mart (``schema.table``,
    or the bare table in the dataset's own schema)."""
    if not dataset.sql:
        return dataset.mart in marts
    for mart in marts:
        schema, table = mart.split(".", 1)
        if re.search(rf"\b{re.escape(schema)}\s*\.\s*{re.escape(table)}\b", dataset.sql, re.IGNORECASE):
            return True
        if dataset.schema == schema and re.search(rf"(?<![\w.]){re.escape(table)}\b", dataset.sql, re.I):
            return True
    return False


def refresh(
    client: SupersetClient,
    marts: Sequence[str],
    warehouse: Mapping[str, Sequence[str]],
    database: str = "",
) -> RefreshReport:
    """Refresh what Superset shows of ``marts`` (``schema.table``), given the warehouse's columns; only
    the datasets of the Superset database named ``database`` when one is given."""
    report = RefreshReport()
    datasets = [
        d for d in client.datasets() if reads_a_mart(d, marts) and (not database or d.database == database)
    ]
    if not datasets:
        where = f" in Superset database {database!r}" if database else ""
        log.info("no Superset dataset reads %s%s: nothing to refresh", ", ".join(marts), where)
        return report
    for dataset in datasets:
        label = f"{dataset.mart} (dataset {dataset.id}, database {dataset.database!r})"
        report.datasets.append(label)
        if dataset.sql:
            continue  # a virtual dataset's columns are its query's, not a mart's
        if dataset.mart not in warehouse:
            log.warning("%s: the warehouse has no such table; its metadata is left as it is", label)
        elif columns_changed(client.dataset_columns(dataset), warehouse[dataset.mart]):
            client.refresh_dataset(dataset)
            report.metadata_refreshed.append(label)
            log.info("%s: the mart's columns changed, dataset metadata refreshed", label)
    client.invalidate(datasets)
    log.info("invalidated the cached data of %d datasets", len(datasets))
    charts: dict[int, Chart] = {}
    for dataset in datasets:
        charts.update((chart.id, chart) for chart in client.charts(dataset))
    failed = []
    for chart in charts.values():
        error = client.warm_up(chart)
        if error:
            failed.append(f"chart {chart.id} {chart.name!r}: {error}")
        else:
            report.charts_warmed.append(chart.id)
    log.info("warmed up %d of %d charts", len(report.charts_warmed), len(charts))
    if failed:
        raise ChartWarmUpError(
            f"{len(failed)} of {len(charts)} charts on the marts failed to warm up, "
            f"{client.target.where}: {'; '.join(failed)}"
        )
    return report
