"""The Astro project's files, as `astro dev start` and `astro deploy` read them (no Docker here).

``devstack/compose/sqlserver_cdc_init.sql`` is the source database of the `astro dev start` stack,
rendered from the contract by ``devstack.sqlserver_init``.
"""

from __future__ import annotations

import re
from pathlib import Path

from devstack.sqlserver_init import OUTPUT as INIT_SQL
from devstack.sqlserver_init import render
from include.cdc.contract import SqlServerType
from include.cdc.settings import Settings

REPO = Path(__file__).resolve().parents[2]
# Astro Runtime images for Airflow 3: astrocrpublic.azurecr.io/runtime:<Airflow major.minor>-<release>
RUNTIME_IMAGE = re.compile(r"astrocrpublic\.azurecr\.io/runtime:(?P<airflow>\d+\.\d+)-(?P<release>\d+)")


def base_image() -> str:
    (line,) = [line for line in (REPO / "Dockerfile").read_text().splitlines() if line.startswith("FROM ")]
    return line.split()[1]


def pinned_airflow() -> str:
    requirements = (REPO / "requirements-dev.txt").read_text()
    return re.search(r"^apache-airflow==(\S+)$", requirements, re.MULTILINE).group(1)


def test_the_base_image_is_an_astro_runtime_image_as_the_registry_names_them():
    assert RUNTIME_IMAGE.fullmatch(base_image()), base_image()


def test_the_base_image_runs_the_airflow_minor_version_the_project_is_developed_and_tested_on():
    major, minor, _ = pinned_airflow().split(".", 2)
    assert RUNTIME_IMAGE.fullmatch(base_image())["airflow"] == f"{major}.{minor}"


def test_the_committed_sqlserver_init_script_is_what_the_contract_gives():
    assert INIT_SQL.read_text(encoding="utf-8") == render(), "run: python -m devstack.sqlserver_init"


def created_columns(sql: str, schema: str, name: str) -> tuple[dict[str, SqlServerType], list[str]]:
    """Columns and types of one CREATE TABLE of the script, and its primary key columns."""
    body = re.search(rf"CREATE TABLE \[{schema}\]\.\[{name}\] \((.*?)\n    \);", sql, re.DOTALL).group(1)
    columns = re.findall(r"^\s*\[(\w+)\] (\w+(?:\([\w,]+\))?) (?:NOT )?NULL,?$", body, re.MULTILINE)
    primary_key = re.search(r"PRIMARY KEY \(([^)]*)\)", body).group(1)
    return {c: SqlServerType.parse(t) for c, t in columns}, re.findall(r"\[(\w+)\]", primary_key)


def test_the_init_script_creates_every_contract_column_with_its_type_and_enables_cdc_on_each_table():
    sql, settings = INIT_SQL.read_text(encoding="utf-8"), Settings()
    assert f"USE [{settings.source_database}];" in sql
    assert "EXEC sys.sp_cdc_enable_db;" in sql
    for t in settings.contract:
        columns, primary_key = created_columns(sql, t.schema, t.table)
        assert columns == {c.source_column: c.sqlserver_type for c in t.columns}, t.table
        assert primary_key == [c.source_column for c in t.key_columns], t.table
        assert (
            f"EXEC sys.sp_cdc_enable_table @source_schema = N'{t.schema}', @source_name = N'{t.table}',"
            in sql
        )
