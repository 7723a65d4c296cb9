"""The source contract and the non-secret settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from include.cdc.contract import (
    STAGING_MODELS_DIR,
    ContractError,
    SqlServerType,
    bronze_freshness_hours,
    load_contract,
)
from include.cdc.settings import Settings, SettingsError


def test_product_contract():
    (product,) = [t for t in load_contract() if t.table == "Product"]
    assert product.schema == "dbo"
    assert product.bronze_table == "product_cdc"
    assert product.primary_key == ("product_id",)
    assert product.key_columns[0].source_column == "ID"
    assert product.topic("cord", "ConcordDb") == "cord.ConcordDb.dbo.Product"


def test_the_contract_holds_every_column_its_property_files_declare_in_their_order():
    """Read apart from the parser: a column the parser skipped or invented would show here."""
    for source in load_contract():
        (model,) = yaml.safe_load((STAGING_MODELS_DIR / f"{source.staging_model}.yml").read_text())["models"]
        metas = [column.get("meta", {}) for column in model["columns"]]
        declared = [meta["source_column"] for meta in metas if "source_column" in meta]
        assert [c.source_column for c in source.columns] == declared, source.table
        assert set(source.primary_key) <= {c.name for c in source.columns}, source.table


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": "decimal", "precision": 10, "scale": 3}, SqlServerType("decimal", precision=10, scale=3)),
        ({"type": "money", "precision": 19, "scale": 4}, SqlServerType("money", precision=19, scale=4)),
        ({"type": "datetime2", "precision": 7}, SqlServerType("datetime2", precision=7)),
        ({"type": "nvarchar", "length": "max"}, SqlServerType("nvarchar", length="max")),
        ({"type": "nvarchar", "length": 200}, SqlServerType("nvarchar", length=200)),
        ({"type": "bigint"}, SqlServerType("bigint")),
    ],
)
def test_a_contract_type_is_a_mapping_of_its_name_and_parameters(spec, expected):
    assert SqlServerType.from_contract(spec) == expected


@pytest.mark.parametrize(
    ("spec", "unit"),
    [
        ({"type": "datetime"}, "ms"),
        ({"type": "datetime2", "precision": 3}, "ms"),
        ({"type": "datetime2", "precision": 6}, "us"),
        ({"type": "datetime2", "precision": 7}, "ns"),
        ({"type": "date"}, "days"),
    ],
)
def test_epoch_units(spec, unit):
    assert SqlServerType.from_contract(spec).epoch_unit == unit


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("decimal(10,2)", "must be a mapping"),  # the old text form
        ({"type": "geography"}, "unsupported SQL Server type 'geography'"),
        ({"type": "Decimal", "precision": 10, "scale": 2}, "unsupported"),
        ({"type": "decimal", "precision": 10}, "takes precision, scale, got precision"),
        ({"type": "decimal", "precision": 10, "scale": 11}, "scale must be a whole number 0..10"),
        ({"type": "decimal", "precision": "10", "scale": 2}, "precision must be a whole number"),
        ({"type": "money", "precision": 18, "scale": 2}, "money is precision 19, scale 4"),
        ({"type": "money", "precision": 19.0, "scale": 4}, "money is precision 19, scale 4"),
        ({"type": "datetime2", "precision": None}, "precision must be a whole number 0..7, got None"),
        ({"type": "datetime2"}, "takes precision"),
        ({"type": "datetime2", "precision": 8}, "precision must be a whole number 0..7"),
        ({"type": "nvarchar"}, "takes length"),
        ({"type": "nvarchar", "length": "200"}, "length must be a whole number"),
        ({"type": "int", "length": 4}, "int takes no parameters, got length"),
    ],
)
def test_a_contract_type_the_decoders_cannot_read_is_an_error(spec, message):
    with pytest.raises(ContractError, match=message):
        SqlServerType.from_contract(spec)


def test_contract_error_names_the_file_and_column(tmp_path: Path):
    (tmp_path / "stg_x.yml").write_text(
        "models:\n  - name: stg_x\n    config: {meta: {cdc_source: {table: dbo.X, bronze_table: x_cdc, "
        "primary_key: [id]}}}\n    columns:\n      - name: id\n        meta: {source_column: ID, "
        "sqlserver_type: {type: hierarchyid}}\n"
    )
    with pytest.raises(ContractError, match=r"stg_x.yml: column id"):
        load_contract(tmp_path)


def test_settings_defaults_and_derived_names():
    settings = Settings()
    product = settings.contract[0]
    assert settings.topic(product) == "cord.ConcordDb.dbo.Product"
    assert settings.raw_prefix_for(product) == "product/raw/"
    assert settings.quarantine_prefix_for(product) == "product/quarantine/"
    assert settings.bucket == "cord-raw"
    assert settings.batch_size == 5000
    assert settings.deadline.total_seconds() == 7200


def test_settings_from_environment():
    settings = Settings.from_env(
        {
            "PRODUCT_CDC_BATCH_SIZE": "100",
            "PRODUCT_CDC_ALERT_RECIPIENTS": "a@x.io, b@x.io",
            "PRODUCT_CDC_FRESHNESS_MAX_AGE_HOURS": "6.5",
            "PRODUCT_CDC_BUCKET": "other-bucket",
        }
    )
    assert settings.batch_size == 100
    assert settings.alert_recipients == ("a@x.io", "b@x.io")
    assert settings.freshness_max_age_hours == 6.5
    assert settings.bucket == "other-bucket"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PRODUCT_CDC_BATCH_SIZE", "many", "BATCH_SIZE"),
        ("PRODUCT_CDC_BATCH_SIZE", "0", "BATCH_SIZE"),
        ("PRODUCT_CDC_BUCKET", "raw; drop table", "BUCKET"),
        ("PRODUCT_CDC_RAW_PREFIX", "../raw", "RAW_PREFIX"),
        ("PRODUCT_CDC_TOPIC_PREFIX", "cord topics", "TOPIC_PREFIX"),
        ("PRODUCT_CDC_DBT_QUEUE", "dbt queue", "DBT_QUEUE"),
    ],
)
def test_bad_settings_are_refused_with_the_variable_name(name, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({name: value})


def test_names_that_become_sql_identifiers_are_validated(tmp_path: Path):
    (tmp_path / "stg_x.yml").write_text(
        "models:\n  - name: stg_x\n    config: {unique_key: [id], meta: {cdc_source: {table: dbo.X, "
        'bronze_table: "x_cdc; drop table y"}}}\n    columns:\n      - name: id\n'
        "        meta: {source_column: ID, sqlserver_type: {type: bigint}}\n"
    )
    with pytest.raises(ContractError, match="is not a lower-case SQL identifier"):
        load_contract(tmp_path)


def test_the_freshness_limit_is_an_hour_plus_the_run_interval_unless_overridden(tmp_path):
    """The refresh procedure wants marts under an hour old; a change waits at most one interval for
    the run it starts."""
    assert Settings().freshness_max_age_hours == 1.25
    assert Settings.from_env({"PRODUCT_CDC_MIN_RUN_INTERVAL_MINUTES": "30"}).freshness_max_age_hours == 1.5
    assert Settings.from_env({"PRODUCT_CDC_FRESHNESS_MAX_AGE_HOURS": "6"}).freshness_max_age_hours == 6
    # dbt's source freshness (dbt source freshness) says the same for the default interval.
    assert bronze_freshness_hours() == Settings().freshness_max_age_hours
    (tmp_path / "_bronze__sources.yml").write_text(
        "sources: [{name: bronze, config: {freshness: {error_after: {count: 2, period: day}}}}]"
    )
    assert bronze_freshness_hours(tmp_path) == 48


def test_runs_on_new_changes_settings():
    settings = Settings()
    assert settings.run_on_new_changes is True
    assert settings.min_run_interval.total_seconds() == 900
    quick = Settings.from_env(
        {"PRODUCT_CDC_RUN_ON_NEW_CHANGES": "false", "PRODUCT_CDC_MIN_RUN_INTERVAL_MINUTES": "0.25"}
    )
    assert quick.run_on_new_changes is False
    assert quick.min_run_interval.total_seconds() == 15
    for bad in ("0", "-1", "1441", "nan", "soon"):
        with pytest.raises(SettingsError, match="MIN_RUN_INTERVAL_MINUTES"):
            Settings.from_env({"PRODUCT_CDC_MIN_RUN_INTERVAL_MINUTES": bad})
