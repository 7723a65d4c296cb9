"""The whole DAG, run with dag.test() on the local stack.

Every staging model equals the generator's true final state row for row, and both marts hold its active
products with the values they copy (devstack.verify; what the marts derive is pinned by the dbt unit
tests, tests/integration/test_dbt_unit_tests.py); an incremental
run after new events rewrites exactly the rows those events affect; a full refresh gives the same
warehouse as the incremental runs did.
"""

from __future__ import annotations

import json

import pytest
import yaml

from devstack.dag_runner import run_dag
from devstack.demo import ensure_airflow_db, load_dag
from devstack.technical_columns import DEFINITION
from devstack.verify import mart_mismatches, staging_mismatches
from include.cdc.contract import load_contract
from include.cdc.sqlfiles import SQL_DIR
from tests.integration.conftest import leaked_secrets

pytestmark = pytest.mark.integration

MARTS = ("marts.dim_product", "marts.dim_product_search")
WRITTEN_AT = {"staged_at", "refreshed_at", "ingested_at"}  # when a row was written, not what it says


@pytest.fixture
def dag(stack, corner, monkeypatch):
    """Parsed for each test, after its settings are in place, as a worker parses it for each task."""
    monkeypatch.setenv("PRODUCT_CDC_RETRY_DELAY_SECONDS", "1")
    ensure_airflow_db(stack)
    return load_dag()


def snapshot(corner, relation: str, key: str) -> dict:
    return {row[key]: row for row in corner.query(f"select * from {relation}")}


def without(row: dict, columns: set[str]) -> dict:
    return {k: v for k, v in row.items() if k not in columns}


def keys_in(messages, seen_before: set[int]) -> dict[str, set]:
    """Per topic, the primary keys of the change events among ``messages`` (not re-emitted copies)."""
    found: dict[str, set] = {}
    for message in messages:
        if message.value is None or id(message) in seen_before:
            continue
        key = json.loads(message.key)
        key = key.get("payload", key)
        found.setdefault(message.topic, set()).add(tuple(key.values()))
    return found


def test_marts_equal_the_source_and_incremental_runs_touch_only_what_changed(dag, corner, capfd):
    generator = corner.generator(products=40, events=6000, restart_every=2000, pk_change_share=0.004)
    batches = generator.batches()
    first = corner.produce_until(batches, 4000)

    run = run_dag(dag)
    assert run.succeeded, run.failed_tasks()
    assert set(run.task_states) == set(dag.task_ids)
    assert staging_mismatches(corner.query, generator) == []
    assert mart_mismatches(corner.query, generator) == []
    technical = [column["name"] for column in yaml.safe_load(DEFINITION.read_text())]
    for table in load_contract():  # what the staging macro builds is what the property files document
        built = corner.query(
            "select column_name from information_schema.columns"
            " where table_schema = 'staging' and table_name = %s order by ordinal_position",
            table.staging_model,
        )
        assert [row["column_name"] for row in built] == [c.name for c in table.columns] + technical

    before = {
        t.staging_model: snapshot(corner, f"staging.{t.staging_model}", t.primary_key[0])
        for t in load_contract()
    }
    marts_before = {m: snapshot(corner, m, "product_id") for m in MARTS}
    second = [m for batch in batches for m in batch]
    corner.produce(second)

    run = run_dag(dag)

    assert run.succeeded, run.failed_tasks()
    assert staging_mismatches(corner.query, generator) == []
    assert mart_mismatches(corner.query, generator) == []
    assert corner.bronze_rows() == generator.total.envelopes

    # Staging: exactly the keys with new events were rewritten; every other row is untouched.
    touched = keys_in(second, {id(m) for m in first})
    staged = {}
    for table in load_contract():
        after = snapshot(corner, f"staging.{table.staging_model}", table.primary_key[0])
        old = before[table.staging_model]
        staged[table.table] = {
            k for k, row in after.items() if k not in old or row["staged_at"] != old[k]["staged_at"]
        }
        assert staged[table.table] == {k[0] for k in touched.get(corner.settings.topic(table), set())}, (
            table.table
        )
        assert all(after[k] == old[k] for k in old.keys() - staged[table.table])

    # Marts: only products whose own row, stock, OEM numbers, links or analogues changed are rewritten.
    links = {
        row["analogue_link_id"]: row for row in corner.query("select * from staging.stg_product_analogue")
    }
    affected = {
        "marts.dim_product": staged["Product"],
        "marts.dim_product_search": staged["Product"]
        | {
            r["product_id"]
            for r in corner.query("select product_id, availability_id from staging.stg_product_availability")
            if r["availability_id"] in staged["ProductAvailability"]
        }
        | {
            r["product_id"]
            for r in corner.query("select product_id, oem_number_id from staging.stg_product_oem_number")
            if r["oem_number_id"] in staged["ProductOEMNumber"]
        }
        | {links[k]["product_id"] for k in staged["ProductAnalogue"]}
        | {link["product_id"] for link in links.values() if link["analogue_product_id"] in staged["Product"]},
    }
    for mart in MARTS:
        after = snapshot(corner, mart, "product_id")
        rewritten = {
            k
            for k, row in after.items()
            if k not in marts_before[mart] or row["refreshed_at"] != marts_before[mart][k]["refreshed_at"]
        }
        removed = marts_before[mart].keys() - after.keys()
        assert rewritten | removed <= affected[mart], mart
        assert rewritten == affected[mart] & after.keys(), mart
        assert all(after[k] == marts_before[mart][k] for k in after.keys() - rewritten)

    # Two whole runs' logs (every task's output) hold no credential.
    out, err = capfd.readouterr()
    assert "load_bronze" in out + err
    assert leaked_secrets(corner.stack, out + err) == []


CHECKS = "check_"


def test_a_run_with_nothing_new_skips_the_dbt_stage_until_bronze_or_the_project_changes(
    dag, corner, monkeypatch, tmp_path
):
    from include.cdc.airflow import dbt_group

    generator = corner.generator(products=15, events=800)
    batches = generator.batches()
    corner.produce_until(batches, 400)
    assert run_dag(dag).succeeded
    marts = {m: snapshot(corner, m, "product_id") for m in MARTS}

    def dbt_stage(run) -> dict[str, set[str]]:
        states: dict[str, set[str]] = {}
        for task_id, state in run.task_states.items():
            if task_id.startswith("dbt."):
                states.setdefault(state, set()).add(task_id)
        return states

    quiet = run_dag(dag)
    assert quiet.succeeded, quiet.failed_tasks()
    assert dbt_stage(quiet)["success"] == {"dbt.dbt_producer_watcher"}
    assert set(dbt_stage(quiet)) == {"success", "skipped"}
    assert {s for t, s in quiet.task_states.items() if t.startswith(CHECKS)} == {"success"}
    assert quiet.task_states["publish_marts"] == "success"
    assert {m: snapshot(corner, m, "product_id") for m in MARTS} == marts

    # A deploy that changed the dbt project builds at its first run, with nothing new in bronze.
    deployed = tmp_path / "manifest.json"
    deployed.write_bytes(dbt_group.MANIFEST.read_bytes() + b"\n")
    monkeypatch.setattr(dbt_group, "MANIFEST", deployed)
    assert set(dbt_stage(run_dag(dag))) == {"success"}
    assert set(dbt_stage(run_dag(dag))) == {"success", "skipped"}
    # So does a full refresh, and a run that loads something new.
    assert set(dbt_stage(run_dag(dag, {"full_refresh": True}))) == {"success"}
    corner.produce([m for batch in batches for m in batch])
    assert set(dbt_stage(run_dag(dag))) == {"success"}
    assert mart_mismatches(corner.query, generator) == []


FAIL_FIRST_WRITE = """
create schema fault;
create sequence fault.dim_product_writes;
create or replace function fault.fail_first_write() returns trigger language plpgsql as $$
begin
    -- nextval is not rolled back with the failed statement: only the first write fails
    if nextval('fault.dim_product_writes') = 1 then
        raise exception 'injected: the first write to marts.dim_product fails';
    end if;
    return null;
end $$;
create trigger fail_first_write before insert or update or delete on marts.dim_product
    for each statement execute function fault.fail_first_write();
"""


def test_a_model_that_fails_in_the_build_is_retried_alone(dag, corner):
    generator = corner.generator(products=20, events=1500)
    batches = generator.batches()
    corner.produce_until(batches, 700)
    first = run_dag(dag)
    assert first.succeeded, first.failed_tasks()
    corner.execute(FAIL_FIRST_WRITE)
    corner.produce([m for batch in batches for m in batch])

    run = run_dag(dag)

    assert run.succeeded, run.failed_tasks()
    # The build failed once: its retry skips (no second build), and the failed model and what depends
    # on it ran alone in their own task's second try; the models that had succeeded were not run again.
    assert run.task_tries["dbt.dbt_producer_watcher"] == 2
    assert run.task_states["dbt.dbt_producer_watcher"] == "skipped"
    assert run.task_tries["dbt.dim_product.run"] == 2
    assert run.task_tries["dbt.dim_product_search.run"] == 2
    assert {run.task_tries[f"dbt.{t.staging_model}.run"] for t in load_contract()} == {1}
    assert corner.scalar("select last_value from fault.dim_product_writes") >= 2
    assert mart_mismatches(corner.query, generator) == []


def test_when_the_load_fails_no_dbt_task_runs(corner, monkeypatch):
    """The model tasks start after the build even when it was skipped; never when it could not run."""
    monkeypatch.setenv("PRODUCT_CDC_RETRIES", "0")
    ensure_airflow_db(corner.stack)
    dag = load_dag()
    corner.produce([m for batch in corner.generator(products=10, events=300).batches() for m in batch])
    corner.execute("create schema cdc_meta; create view cdc_meta.load_ledger as select 1 as unusable")

    run = run_dag(dag)

    assert run.task_states["load_bronze"] == "failed"
    assert {s for t, s in run.task_states.items() if t.startswith("dbt.")} == {"upstream_failed"}


def test_full_refresh_gives_the_same_warehouse_as_incremental_runs(dag, corner):
    generator = corner.generator(products=25, events=3000, restart_every=700)
    batches = generator.batches()
    corner.produce_until(batches, 1500)
    assert run_dag(dag).succeeded
    corner.produce([m for batch in batches for m in batch])
    assert run_dag(dag).succeeded
    relations = [(f"staging.{t.staging_model}", t.primary_key[0]) for t in load_contract()]
    relations += [(m, "product_id") for m in MARTS]
    incremental = {
        r: {k: without(v, WRITTEN_AT) for k, v in snapshot(corner, r, key).items()} for r, key in relations
    }

    refreshed = run_dag(dag, {"full_refresh": True})

    assert refreshed.succeeded, refreshed.failed_tasks()
    assert refreshed.task_states["drain_kafka"] == "success"  # nothing new: the archive is all there is
    for relation, key in relations:
        rebuilt = {k: without(v, WRITTEN_AT) for k, v in snapshot(corner, relation, key).items()}
        assert rebuilt == incremental[relation], relation
    assert mart_mismatches(corner.query, generator) == []
    for path in sorted((SQL_DIR / "analytics").glob("*.sql")):  # the validation queries run on the result
        assert corner.query(path.read_text()), path.name
