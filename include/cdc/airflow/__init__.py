"""The Airflow side of the pipeline: what the DAG file builds its tasks from."""
