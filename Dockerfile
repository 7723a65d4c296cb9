# Astro Runtime 3.3-2 (Airflow 3.3), named as Astronomer publishes the images for Airflow 3:
# astrocrpublic.azurecr.io/runtime:<Airflow major.minor>-<release> (tests/unit/test_astro_project.py).
# The runtime image's ONBUILD steps install packages.txt and requirements.txt and copy the project;
# the steps below run after them.
FROM astrocrpublic.azurecr.io/runtime:3.3-2

# MALLOC_ARENA_MAX: fewer glibc malloc arenas keep the drain's and the bronze load's threads from
# holding freed batch buffers (peak memory of a million-event load: README, Benchmark).
ENV AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False \
    MALLOC_ARENA_MAX=2

# The dbt manifest Cosmos renders the task group from (LoadMode.DBT_MANIFEST): built once here, so
# parsing the DAG never runs dbt. `dbt parse` needs no database connection.
RUN cd include/dbt && DBT_PROFILES_DIR=. dbt parse --quiet
