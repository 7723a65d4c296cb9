"""Checks of the warehouse: ``health`` (``python -m include.cdc.checks.health``) reports every bronze table,
staging model and mart at any time.

The checks that end every run are SQL (``include/sql/checks/``), run by the common.sql operators that
``include/cdc/airflow/sql_checks.py`` builds.
"""
