#!/bin/sh
# The superset service's start (docker-compose.override.yml), before its web server: the metadata
# database (SQLite in the superset-home volume), the admin user, Superset's roles, and the dashboard of
# include/superset (superset_import.py). Secrets come from .env through the environment: the admin's
# password goes to Superset on stdin, bi_reader's to the import in its environment, neither on a
# command line.
set -eu
: "${SUPERSET_ADMIN_PASSWORD:?set SUPERSET_ADMIN_PASSWORD in .env}"
: "${BI_READER_PASSWORD:?set BI_READER_PASSWORD in .env}"
superset db upgrade
if ! superset fab list-users 2>/dev/null | grep -q "username:admin "; then
    printf '%s\n%s\n' "$SUPERSET_ADMIN_PASSWORD" "$SUPERSET_ADMIN_PASSWORD" |
        superset fab create-admin --username admin --firstname Cord --lastname Admin --email admin@cord.local
fi
superset init
python /app/cord/superset_import.py
