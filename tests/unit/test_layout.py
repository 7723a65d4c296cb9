"""include/cdc is laid out by stage, and every import points downwards.

From the bottom up:

* foundations, the modules directly in include/cdc/ (contract, settings, errors, sqlfiles, faults,
  warehouse),
  import only each other;
* the shared packages (archive/: the bucket and the landing format; debezium/: change events) import
  the foundations and their own modules;
* each stage's package (connect/, ingest/, bronze/, checks/; dbt_runner/, which the dbt tasks run as
  dbt; bi/, the bi_refresh DAG's) imports the foundations, the shared
  packages and its own modules, never another stage;
* airflow/, the Airflow adapters, may import anything, and nothing else imports it.

The DAG file imports airflow/ and the foundations only, and its import path (the imports that run when
the file is parsed, not those inside task bodies) reaches no stage or shared package. No module is
longer than 300 lines.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CDC = REPO / "include" / "cdc"
DAGS = REPO / "dags"
MAX_LINES = 300

FOUNDATIONS = "foundations"
SHARED = "shared"
STAGE = "stage"
AIRFLOW = "airflow"
PACKAGES = {
    "archive": SHARED,
    "debezium": SHARED,
    "connect": STAGE,
    "ingest": STAGE,
    "bronze": STAGE,
    "checks": STAGE,
    "dbt_runner": STAGE,  # not a stage of the DAG: what the dbt tasks run as dbt; a leaf all the same
    "bi": STAGE,  # the bi_refresh DAG's: Superset after the marts changed
    "airflow": AIRFLOW,
}
MODULES = sorted(CDC.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def exists(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(node: ast.AST, package: str, in_functions: bool) -> Iterator[str]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import):
            yield from (alias.name for alias in child.names)
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:
                anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                base = ".".join([*anchor, *([child.module] if child.module else [])])
            for alias in child.names:  # ``from include.cdc.ingest import drain`` imports a module
                yield f"{base}.{alias.name}" if exists(f"{base}.{alias.name}") else base
        elif in_functions or not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _imports(child, package, in_functions)


def cdc_imports(path: Path, in_functions: bool = True) -> set[str]:
    """The include.cdc modules ``path`` imports: anywhere in it, or only when it is imported."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = _imports(ast.parse(path.read_text(), str(path)), package, in_functions)
    return {n for n in found if n == "include.cdc" or n.startswith("include.cdc.")}


def place(module: str) -> tuple[str, str]:
    """(layer, package) of an include.cdc module; foundations are their own package."""
    parts = module.split(".")[2:]
    if not parts:
        return FOUNDATIONS, ""
    return PACKAGES.get(parts[0], FOUNDATIONS), parts[0]


def allowed(importer: str, imported: str) -> bool:
    (layer, package), (target_layer, target_package) = place(importer), place(imported)
    if layer == AIRFLOW or target_layer == FOUNDATIONS:
        return True
    if layer == FOUNDATIONS:
        return False
    return target_package == package or (layer == STAGE and target_layer == SHARED)


def test_every_package_has_a_layer_and_every_other_module_is_a_foundation():
    packages = {p.name for p in CDC.iterdir() if p.is_dir() and any(p.glob("*.py"))}
    assert packages == set(PACKAGES)
    for package in packages:
        assert (CDC / package / "__init__.py").is_file(), package
        assert not any(p.is_dir() and any(p.glob("*.py")) for p in (CDC / package).iterdir()), package
    assert {place(module_name(p))[0] for p in CDC.glob("*.py") if p.name != "__init__.py"} == {FOUNDATIONS}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CDC)))
def test_imports_point_downwards(path):
    importer = module_name(path)
    for imported in cdc_imports(path):
        assert exists(imported), f"{importer} imports {imported}, which does not exist"
    upwards = sorted(imported for imported in cdc_imports(path) if not allowed(importer, imported))
    assert not upwards, f"{importer} ({place(importer)[0]}) may not import {upwards}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CDC)))
def test_no_module_is_longer_than_300_lines(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_the_dag_file_imports_the_airflow_adapters_and_foundations_only():
    for dag_file in DAGS.glob("*.py"):
        imported = cdc_imports(dag_file)
        assert imported, dag_file
        assert {place(module)[0] for module in imported} <= {AIRFLOW, FOUNDATIONS}, imported


def test_no_stage_or_shared_package_is_on_the_dag_file_import_path():
    """Stage and shared modules import clients (psycopg, confluent_kafka, boto3, msgspec): the task
    bodies import them, never a module that parsing the DAG file imports."""
    seen: set[str] = set()
    pending = set().union(*(cdc_imports(f, in_functions=False) for f in DAGS.glob("*.py")))
    while pending:
        module = pending.pop()
        seen.add(module)
        path = REPO.joinpath(*module.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        pending |= cdc_imports(path, in_functions=False) - seen
    assert {place(module)[0] for module in seen} <= {AIRFLOW, FOUNDATIONS}, sorted(seen)


def test_the_rule_is_seen_to_fail():
    assert not allowed("include.cdc.bronze.load", "include.cdc.airflow.clients")
    assert not allowed("include.cdc.bronze.load", "include.cdc.ingest.drain")
    assert not allowed("include.cdc.archive.landing", "include.cdc.debezium.envelope")
    assert not allowed("include.cdc.settings", "include.cdc.archive.storage")
    assert allowed("include.cdc.bronze.load", "include.cdc.archive.storage")
    assert allowed("include.cdc.airflow.tasks", "include.cdc.bronze.load")


def test_test_modules_have_unique_names():
    """tests/ has no packages, so pytest imports every test module by its base name: two of a name fail
    the whole suite's collection, which a run of one folder does not show."""
    names = Counter(path.name for path in (REPO / "tests").rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
