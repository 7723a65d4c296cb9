-- The warehouse role the DAG uses (the cord_warehouse connection's login). Run once, as an
-- administrator of the warehouse, with psql; the password never goes on the command line:
--
--   psql "postgresql://admin@warehouse:5432/cord" <<'SQL'
--   \set role cord_etl
--   \set database cord
--   \prompt 'password for the role: ' password
--   \i include/sql/setup/warehouse_role.sql
--   SQL
--
-- The role is no superuser and gets only what the pipeline needs: to connect, to create its own
-- schemas (bronze, cdc_meta, staging, marts; it then owns everything in them) and to use temporary
-- tables (the bronze load's staging area). cdc_meta is the load's bookkeeping (ledger, quarantine, schema
-- drift, run metrics, loads); the first load creates it and moves there what an older warehouse kept in
-- bronze, which this role can do because it owns both.

select format('create role %I login password %L', :'role', :'password')
where not exists (
    select from pg_roles
    where rolname = :'role'
) \gexec

select format('alter role %I nosuperuser nocreatedb nocreaterole noreplication nobypassrls', :'role') \gexec

select format('grant connect, create, temporary on database %I to %I', :'database', :'role') \gexec
