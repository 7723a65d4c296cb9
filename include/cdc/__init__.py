"""The pipeline, a package per stage: connect/, ingest/, bronze/, checks/; the shared archive/ and
debezium/; the Airflow adapters in airflow/; foundations (contract, settings, sqlfiles, faults, warehouse)
as modules here. Imports point downwards only (docs/development.md; tests/unit/test_layout.py).
"""
