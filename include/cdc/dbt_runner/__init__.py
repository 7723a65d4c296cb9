"""dbt as the DAG's tasks run it: never outliving its task, never beside another build.

Cosmos starts dbt in a session of its own (``setsid``), so a task process killed with SIGKILL used to
leave its ``dbt build`` running, and a retry could build the same marts beside it. Cosmos's
``dbt_executable_path`` is ``include/dbt/bin/dbt-task`` in every mode (include/cdc/airflow/dbt_group.py),
which runs this package (``__main__.py``) with Cosmos's arguments. It

* asks the kernel to SIGKILL it when the task process dies (``lifetime.py``), and
* before a command that writes to the warehouse (build, run, test, seed, snapshot, ...), takes the
  warehouse's dbt build lock, a session advisory lock, waiting at most ``PRODUCT_CDC_DBT_LOCK_WAIT_SECONDS``
  (``build_lock.py``; the warehouse is the dbt profile's target, ``profile.py``),

then becomes dbt (``exec``): the same process, so dbt inherits both. Its output, signals and exit code are
dbt's own, and the lock's session stays open exactly as long as dbt runs: when dbt ends, killed or not, the
kernel closes it and PostgreSQL releases the lock.

It imports neither Airflow nor dbt (psycopg, PyYAML and Jinja only), so Airflow's interpreter runs it, and
it execs the dbt of dbt's own virtualenv (``PRODUCT_CDC_DBT_EXECUTABLE``, by default ``.venv-dbt/bin/dbt``).
"""
