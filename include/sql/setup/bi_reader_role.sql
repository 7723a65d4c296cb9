-- The read-only role of BI and the search pipeline (Superset's "Cord warehouse" connection logs in
-- as it). Run as an administrator of the warehouse, with psql; the password never goes on the
-- command line:
--
--   psql "postgresql://admin@warehouse:5432/cord" <<'SQL'
--   \set role bi_reader
--   \set owner cord_etl
--   \set database cord
--   \prompt 'password for the role: ' password
--   \i include/sql/setup/bi_reader_role.sql
--   SQL
--
-- It reads the marts and nothing else: no bronze or staging (raw change events, deleted products), no
-- cdc_meta (the load's bookkeeping), no writes. The marts schema is created here for the DAG's role
-- when the first run has not created it yet, so that the grants, and the default privileges on what
-- that role creates there later, hold from the start.

select format('create role %I login password %L', :'role', :'password')
where not exists (
    select from pg_roles
    where rolname = :'role'
) \gexec

select format(
    'alter role %I login nosuperuser nocreatedb nocreaterole noreplication nobypassrls', :'role'
) \gexec

select format('grant connect on database %I to %I', :'database', :'role') \gexec

select format('create schema if not exists marts authorization %I', :'owner') \gexec

select format('grant usage on schema marts to %I', :'role') \gexec

select format('grant select on all tables in schema marts to %I', :'role') \gexec

select format(
    'alter default privileges for role %I in schema marts grant select on tables to %I', :'owner', :'role'
) \gexec
