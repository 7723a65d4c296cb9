-- Statements of the health check (include/cdc/checks/health.py). {relation} is quoted by the caller.

-- name: exists
select to_regclass(%(relation)s) is not null;

-- name: row_count
select count(*) from {relation};
