# Astro Runtime 3.3-2 (Airflow 3.3), named as Astronomer publishes the images for Airflow 3:
# astrocrpublic.azurecr.io/runtime:<Airflow major.minor>-<release> (tests/unit/test_astro_project.py).
# The runtime image's ONBUILD steps install packages.txt and requirements.txt and copy the project
# (what .dockerignore lets in) to /usr/local/airflow; the steps below run after them.
FROM astrocrpublic.azurecr.io/runtime:3.3-2

# MALLOC_ARENA_MAX: fewer glibc malloc arenas keep the drain's and the bronze load's threads from
# holding freed batch buffers (peak memory of a million-event load: README, Benchmark).
ENV AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False \
    MALLOC_ARENA_MAX=2

# dbt in a virtualenv of its own, apart from Airflow's (Cosmos's documented pattern): dbt's pins and
# Airflow's never meet. The DAG runs /usr/local/airflow/.venv-dbt/bin/dbt (PRODUCT_CDC_DBT_EXECUTABLE's
# default, the same path as `make` builds it in a clone).
RUN python -m venv .venv-dbt && . .venv-dbt/bin/activate && \
    pip install --no-cache-dir -r requirements-dbt.txt

# The dbt manifest Cosmos renders the task group from (LoadMode.DBT_MANIFEST): built once here, with that
# dbt, so parsing the DAG never runs dbt. `dbt parse` needs no database connection. It goes to dbt_target/,
# outside include/: `astro dev start` bind-mounts the working tree's include/ over the image's, which would
# hide a manifest built under include/dbt/target (git-ignored, so absent from the mounted clone).
RUN cd include/dbt && DBT_PROFILES_DIR=. /usr/local/airflow/.venv-dbt/bin/dbt parse --quiet \
    --target-path /usr/local/airflow/dbt_target --log-path /tmp/dbt-logs
