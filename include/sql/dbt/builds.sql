-- The dbt builds that passed, and what each read (include/cdc/dbt_builds.py): a run whose inputs equal
-- the last passing build's skips the dbt stage.

-- name: create_builds
create table if not exists cdc_meta.dbt_builds (
    built_at timestamptz not null default now(),
    dag_run_id text not null,
    build_inputs text not null
);

-- name: bronze_state
-- Bronze as the ledger describes it: an object's rows and its ledger row commit together, and a full
-- refresh rewrites the ledger of what it reloads.
select
    count(*) as ledger_objects,
    coalesce(extract(epoch from max(loaded_at))::text, '') as last_loaded_at
from cdc_meta.load_ledger;

-- name: last_build
select build_inputs
from cdc_meta.dbt_builds
order by built_at desc
limit 1;

-- name: table_exists
select to_regclass(%(relation)s) is not null as found;

-- name: record_build
insert into cdc_meta.dbt_builds (dag_run_id, build_inputs) values (%(dag_run_id)s, %(inputs)s);
