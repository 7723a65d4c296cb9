"""The warehouse checks that end every run, as common.sql operators over include/sql/checks/*.sql.

Each check is one query whose columns are booleans named after the rule they test; the operator fails
the task on any false one, and the task log shows the query and the row. Thresholds come from
Settings (validated numbers); supplier names are bound as query parameters, never pasted into SQL.
"""

from __future__ import annotations

from airflow.providers.common.sql.operators.sql import SQLCheckOperator, SQLExecuteQueryOperator

from include.cdc.settings import Settings


class _ReportsTables:
    """OpenLineage's SQL parser misses the tables of some checks (a bound parameter, CTEs): those are
    then parsed again (``lineage.fill_sql_lineage``), so every check reports the tables it read."""

    def get_openlineage_facets_on_complete(self, task_instance):
        from include.cdc.airflow import lineage

        found = super().get_openlineage_facets_on_complete(task_instance)
        return lineage.fill_sql_lineage(Settings.from_env(), self.sql, found)


class WarehouseCheck(_ReportsTables, SQLCheckOperator):
    pass


class WarehouseQuery(_ReportsTables, SQLExecuteQueryOperator):
    pass


def sql_checks(settings: Settings, **operator_args) -> list[SQLCheckOperator]:
    def check(name: str, bind: dict | None = None, **params) -> SQLCheckOperator:
        return WarehouseCheck(
            task_id=f"check_{name}",
            conn_id=settings.warehouse_conn_id,
            sql=f"checks/{name}.sql",
            params=params,
            parameters=bind,
            **operator_args,
        )

    tables = [[t.bronze_table, t.staging_model] for t in settings.contract]
    return [
        check("layers_consistent", tables=tables),
        check("no_duplicate_products"),
        check("bronze_is_fresh", tables=tables, max_age_hours=settings.freshness_max_age_hours),
        check("multilingual_coverage", min_share=settings.min_multilingual_share),
        check(
            "supplier_concentration",
            bind={"allowed_suppliers": list(settings.dominant_suppliers)},
            max_share=settings.max_supplier_share,
        ),
        check("for_sale_share_stable", max_shift=settings.max_for_sale_shift),
    ]


def record_run_metrics(settings: Settings, **operator_args) -> SQLExecuteQueryOperator:
    """Figures of this run for the next run's comparisons (``cdc_meta.run_metrics``)."""
    return WarehouseQuery(
        task_id="record_run_metrics",
        conn_id=settings.warehouse_conn_id,
        sql="monitoring/record_run_metrics.sql",
        parameters={"run_id": "{{ run_id }}"},
        **operator_args,
    )
