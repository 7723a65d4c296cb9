#!/bin/sh
# The warehouse service's first start (mounted into /docker-entrypoint-initdb.d by
# docker-compose.override.yml): the DAG's role, created with include/sql/setup/warehouse_role.sql as an
# administrator creates it (README, "Warehouse role"). The role and the database come from the service's
# environment, the password from .env; psql reads all three with \getenv, so none is on a command line.
# Then bi_reader, the read-only role Superset's "Cord warehouse" connection uses (bi_reader_role.sql).
: "${CORD_ETL_PASSWORD:?set CORD_ETL_PASSWORD in .env: the password of the role the DAG connects as}"
: "${BI_READER_PASSWORD:?set BI_READER_PASSWORD in .env: the password of Superset's read-only role}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
\getenv role WAREHOUSE_ROLE
\getenv database POSTGRES_DB
\getenv password CORD_ETL_PASSWORD
\i /warehouse/warehouse_role.sql
\set owner :role
\set role bi_reader
\getenv password BI_READER_PASSWORD
\i /warehouse/bi_reader_role.sql
SQL
