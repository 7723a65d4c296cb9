"""sqlfluff over the package's SQL, each file filled in as it is when it runs (``make lint``).

    python -m devstack.sqllint              # lint include/sql and the dbt models
    python -m devstack.sqllint fix          # let sqlfluff fix what it can (not the staging models' SQL)
    python -m devstack.sqllint lint PATH..  # only these files or folders

Every kind of SQL here is templated differently, so each goes through sqlfluff with its own templater
(the settings are in ``.sqlfluff``, ``include/sql/.sqlfluff`` and ``include/dbt/compiled.sqlfluff``):

* ``include/sql`` files with Jinja statements (the checks that loop over the contract's tables): the
  Jinja templater, with ``params`` as ``include/cdc/airflow/sql_checks.py`` passes them.
* every other ``include/sql`` file: the placeholder templater, which fills Airflow's ``{{ params.name }}``,
  psycopg's bound values ``%(name)s`` and ``%s``, and the ``{identifier}`` of ``include/cdc/sqlfiles.py``.
* the dbt marts: the Jinja templater with sqlfluff's dbt builtins (``ref``, ``this``, ``is_incremental``);
  sqlfluff also renders the branch of ``is_incremental()`` that is not taken.
* the dbt staging models: each loops over the contract in its yml (macro ``cdc_contract``) and decodes
  each column with the macro ``debezium_decode``, so only dbt renders them. They are compiled here by
  dbt itself, with no database (below), twice: as a first build or full refresh, and as an incremental
  run. sqlfluff then lints that SQL in ``include/dbt/target/sqlfluff/<run>/compiled/``: a finding names
  a line of that file, and the SQL there comes from the model and ``include/dbt/macros``.

Why not sqlfluff's dbt templater (sqlfluff-templater-dbt): it needs a database connection (it fills dbt's
relation cache before it compiles a model, and ``is_incremental()`` asks the database), and it reports
what it finds in a macro's SQL at the line of the model that calls the macro.

Compiling without a database: dbt asks the database only which relations exist (the relation cache, and
``is_incremental()``, which is true when the model's table exists). Here the cache stays empty, every
model's table is missing in the first run and present in the incremental run, and opening a connection
is an error, so the lint never reaches a warehouse whatever the environment's ``CORD_WAREHOUSE_*`` say.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from include.cdc.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SQL_DIR = REPO / "include" / "sql"
DBT_DIR = REPO / "include" / "dbt"
STAGING_DIR = DBT_DIR / "models" / "staging"
COMPILED_CONFIG = DBT_DIR / "compiled.sqlfluff"
# Under dbt's target/ (git ignores it, `make clean` removes it); not where `make manifest` writes.
COMPILED_DIR = DBT_DIR / "target" / "sqlfluff"
RUNS = ("first_build", "incremental")


def _sql_files(paths: list[Path]) -> list[Path]:
    found = []
    for path in paths:
        path = path.resolve()
        found += sorted(path.rglob("*.sql")) if path.is_dir() else [path]
    return found


def _not_ignored(files: list[Path]) -> list[Path]:
    """files less those .sqlfluffignore names (sqlfluff warns about each file it is given and ignores)."""
    import pathspec

    lines = (REPO / ".sqlfluffignore").read_text().splitlines()
    ignored = pathspec.PathSpec.from_lines("gitwildmatch", lines)
    return [f for f in files if not (f.is_relative_to(REPO) and ignored.match_file(f.relative_to(REPO)))]


def _has_jinja_statements(path: Path) -> bool:
    return "{%" in path.read_text()


def _sqlfluff(command: str, templater: str, files: list[Path], *options: str) -> int:
    if not files:
        return 0
    argv = [sys.executable, "-m", "sqlfluff", command, "--templater", templater, *options]
    argv += [str(f.relative_to(REPO)) if f.is_relative_to(REPO) else str(f) for f in files]
    print(f"$ sqlfluff {' '.join(argv[3 : -len(files)])} ({len(files)} files)", flush=True)
    return subprocess.run(argv, cwd=REPO, check=False).returncode


def compile_offline(run: str) -> Path:
    """Compile the staging models as dbt does, with no database (devstack/dbt_compile_offline.py, run by
    the interpreter of dbt's own virtualenv); the folder of their compiled SQL."""
    target = COMPILED_DIR / run
    dbt_python = Path(Settings.from_env().dbt_executable).with_name("python")
    argv = [str(dbt_python), "-I", str(Path(__file__).with_name("dbt_compile_offline.py")), run, str(target)]
    if subprocess.run(argv, cwd=REPO, check=False).returncode != 0:
        raise SystemExit(f"dbt could not compile the staging models ({run})")
    return target / "compiled"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.sqllint", description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", choices=("lint", "fix"), default="lint")
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (default: all)")
    args = parser.parse_args(argv)

    files = _sql_files(args.paths or [SQL_DIR, DBT_DIR / "models"])
    staging = [f for f in files if f.is_relative_to(STAGING_DIR)]
    # include/sql's files without Jinja statements take the placeholder templater; the rest, dbt's marts
    # among them, the Jinja templater.
    linted = _not_ignored(files)
    placeholder = [f for f in linted if f.is_relative_to(SQL_DIR) and not _has_jinja_statements(f)]
    jinja = [f for f in linted if f not in placeholder]

    codes = [
        _sqlfluff(args.command, "jinja", jinja),
        _sqlfluff(args.command, "placeholder", placeholder),
    ]
    if staging:
        if args.command == "fix":
            print("The staging models' SQL is compiled by dbt: fix the models and macros by hand.")
        compiled = []
        for run in RUNS:
            folder = compile_offline(run)
            compiled += [p for f in staging for p in folder.rglob(f"models/staging/{f.name}")]
        codes.append(_sqlfluff("lint", "raw", compiled, "--config", str(COMPILED_CONFIG.relative_to(REPO))))
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
