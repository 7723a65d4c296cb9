"""The Astro image and what `astro dev start` runs, rebuilt without Docker.

The image holds what ``.dockerignore`` lets in of the project (the runtime image's ONBUILD step copies the
build context to /usr/local/airflow), plus what the Dockerfile's RUN steps build there: dbt's virtualenv and
the dbt manifest. ``astro dev start`` then bind-mounts the working tree's ``dags/``, ``plugins/``,
``include/`` and ``tests/`` over the image's (astro-cli, airflow/include/airflow3/composeyml.go.tmpl), so a
file the image built under one of them is hidden by the clone's copy. Here that tree is rebuilt in a
temporary folder from the files git tracks and the DAGs are parsed in it.

What only Docker can show: that the runtime image's ONBUILD steps install requirements.txt, that
``pip install -r requirements-dbt.txt`` resolves in the image, and the containers' own start-up.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path

import pytest
import yaml

from include.cdc.settings import DBT_MANIFEST, DEFAULT_DBT_EXECUTABLE

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_HOME = "/usr/local/airflow"  # the runtime image's project folder (its WORKDIR)
# The folders `astro dev start` bind-mounts from the working tree over the image's.
ASTRO_MOUNTS = ("dags", "plugins", "include", "tests")
# Astro Runtime images for Airflow 3: astrocrpublic.azurecr.io/runtime:<Airflow major.minor>-<release>
RUNTIME_IMAGE = re.compile(r"astrocrpublic\.azurecr\.io/runtime:(?P<airflow>\d+\.\d+)-(?P<release>\d+)")


def base_image() -> str:
    (line,) = [line for line in (REPO / "Dockerfile").read_text().splitlines() if line.startswith("FROM ")]
    return line.split()[1]


def pinned_airflow() -> str:
    requirements = (REPO / "requirements-dev.txt").read_text()
    return re.search(r"^apache-airflow==(\S+)$", requirements, re.MULTILINE).group(1)


def run_steps() -> list[str]:
    """The Dockerfile's RUN commands, continuation lines joined."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [re.sub(r"\s+", " ", line[4:]).strip() for line in text.splitlines() if line.startswith("RUN ")]


# -- .dockerignore, as Docker reads it ----------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern:
    """Docker's pattern syntax (moby's patternmatcher, Go's filepath.Match plus ``**``): ``*`` and ``?``
    stay within a path segment, ``**`` crosses segments, ``[...]`` is a class, ``\\`` escapes."""
    out, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):  # "**/": zero or more whole folders
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(char)
        i += 1
    return re.compile(out)


def dockerignore_rules(text: str) -> list[tuple[bool, re.Pattern]]:
    """(re-include?, regex) per pattern, in order. As Docker reads the file: blank lines and lines
    starting with # are skipped, ``!`` re-includes, each pattern is cleaned (filepath.Clean: no trailing
    slash, no ``.`` segments) and a leading ``/`` is dropped: patterns are relative to the context."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        line = line[1:].strip() if include else line
        line = posixpath.normpath(line).lstrip("/")
        rules.append((include, _pattern_regex(line)))
    return rules


def ignored(path: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    """Whether Docker leaves ``path`` out of the build context: the last pattern that matches the path or
    one of its parent folders decides (a pattern that names a folder names everything under it)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for include, regex in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not include
    return excluded


def tracked_files() -> list[str]:
    """The files a fresh clone holds."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    return [path for path in listed.split("\0") if path and (REPO / path).is_file()]


@cache
def image_files() -> frozenset[str]:
    """The project's files the image holds: what git tracks, less what .dockerignore leaves out."""
    rules = dockerignore_rules((REPO / ".dockerignore").read_text())
    return frozenset(path for path in tracked_files() if not ignored(path, rules))


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        ("*", ".git/config", True),  # Go's * matches a leading dot
        ("*\n!dags/", "dags/product_cdc_sync.py", False),  # a folder re-included, with its files
        ("*\n!dags/\n**/__pycache__", "dags/__pycache__/x.pyc", True),
        ("**/*.pyc", "a.pyc", True),  # **/ matches zero folders
        ("**/*.pyc", "include/cdc/a.pyc", True),
        ("/docs", "docs/index.md", True),  # a leading / is the context's root
        ("docs", "include/docs/product_cdc_sync.md", False),  # ... and so is no leading /
        ("include/*.py", "include/cdc/contract.py", False),  # * stays within one folder
        ("include/**/*.py", "include/cdc/contract.py", True),
        ("tests\n!tests/keep.py", "tests/keep.py", False),  # the last match wins
        ("!tests/keep.py\ntests", "tests/keep.py", True),
        ("# tests\n\n", "tests/x.py", False),  # comments and blank lines
        ("include/dbt/target/", "include/dbt/target/manifest.json", True),  # a trailing / is cleaned
    ],
)
def test_the_dockerignore_reader_follows_dockers_rules(patterns, path, expected):
    assert ignored(path, dockerignore_rules(patterns)) is expected


def test_the_image_holds_the_product_and_nothing_of_the_workshop():
    files = image_files()
    for workshop in ("devstack/", "tests/", "docs/", "benchmarks/", ".ci/", ".stack", ".astro/", ".venv"):
        assert not [f for f in files if f.startswith(workshop)], workshop
    assert not [f for f in files if f.startswith("include/sql/bench/")], "the benchmark's SQL"
    for name in ("README.md", "Makefile", "requirements-dev.txt", "airflow_settings.yaml", ".env.example"):
        assert name not in files
    product = {
        "dags/product_cdc_sync.py",
        "dags/bi_refresh.py",
        "include/cdc/airflow/dbt_group.py",
        "include/cdc/dbt_runner/__main__.py",
        "include/dbt/bin/dbt-task",
        "include/dbt/dbt_project.yml",
        "include/dbt/profiles.yml",
        "include/docs/product_cdc_sync.md",
        "include/connect/sqlserver-product-v2.json",
        "packages.txt",
        "requirements.txt",
        "requirements-dbt.txt",
    }
    assert product <= files, sorted(product - files)
    # Every file under the product's folders comes along (the exclusions above are the only holes).
    for path in tracked_files():
        if path.startswith(("dags/", "include/cdc/", "include/dbt/", "plugins/")):
            assert path in files, path


def test_what_the_dockerfile_runs_is_in_the_image():
    """Each RUN step names only files the image holds (a step that ran a devstack script would fail the
    build); the manifest is built with the dbt of the virtualenv the Dockerfile makes."""
    files, steps = image_files(), run_steps()
    for step in steps:
        for name in re.findall(r"(?<![\w/.-])((?:include|dags|devstack|tests)/[\w./-]+|[\w-]+\.txt)", step):
            assert name in files or any(f.startswith(name.rstrip("/") + "/") for f in files), (step, name)
    (venv,) = [s for s in steps if "-m venv" in s]
    assert "-m venv .venv-dbt " in venv
    assert "pip install --no-cache-dir -r requirements-dbt.txt" in venv
    (parse,) = [s for s in steps if "dbt parse" in s]
    assert f"{AIRFLOW_HOME}/.venv-dbt/bin/dbt parse" in parse
    assert DEFAULT_DBT_EXECUTABLE.relative_to(REPO) == Path(".venv-dbt/bin/dbt")


def test_the_base_image_is_an_astro_runtime_image_as_the_registry_names_them():
    assert RUNTIME_IMAGE.fullmatch(base_image()), base_image()


def test_the_base_image_runs_the_airflow_minor_version_the_project_is_developed_and_tested_on():
    major, minor, _ = pinned_airflow().split(".", 2)
    assert RUNTIME_IMAGE.fullmatch(base_image())["airflow"] == f"{major}.{minor}"


def test_the_project_is_an_astro_project_as_astro_dev_init_writes_it():
    """Without .astro/config.yaml the Astro CLI stops: "this is not an Astro project directory"."""
    config = yaml.safe_load((REPO / ".astro" / "config.yaml").read_text())
    assert re.fullmatch(r"[a-z0-9]([a-z0-9_-]*[a-z0-9])?", config["project"]["name"])
    assert ".astro/config.yaml" in tracked_files()


def test_airflows_environment_holds_no_dbt():
    """dbt lives in .venv-dbt (requirements-dbt.txt), not beside Airflow (requirements.txt)."""
    assert not re.search(r"^dbt-", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert re.search(r"^dbt-core[<>=]", (REPO / "requirements-dbt.txt").read_text(), re.MULTILINE)
    result = subprocess.run([sys.executable, "-c", "import dbt"], capture_output=True, check=False)
    assert result.returncode != 0, "dbt-core is installed in Airflow's environment"


# -- astro dev start, simulated -----------------------------------------------------------------------


def _copy(paths, source: Path, target: Path) -> None:
    for path in paths:
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / path, target / path)


def build_image(root: Path) -> None:
    """The image's /usr/local/airflow at ``root``: the build context, dbt's virtualenv (this clone's,
    built by `make` from the same requirements-dbt.txt) and the Dockerfile's dbt parse, run as written."""
    _copy(sorted(image_files()), REPO, root)
    (root / ".venv-dbt").symlink_to(DEFAULT_DBT_EXECUTABLE.parents[1], target_is_directory=True)
    (parse,) = [s for s in run_steps() if "dbt parse" in s]
    command = parse.replace(AIRFLOW_HOME, str(root))
    result = subprocess.run(
        ["sh", "-c", command],
        cwd=root,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"


def mount_working_tree(root: Path) -> None:
    """Astro's bind mounts: each mounted folder becomes the clone's copy (git-tracked files only, as a
    fresh clone has them: no include/dbt/target)."""
    tracked = tracked_files()
    for folder in ASTRO_MOUNTS:
        shutil.rmtree(root / folder, ignore_errors=True)
        _copy([p for p in tracked if p.startswith(folder + "/")], REPO, root)


PARSE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from airflow.dag_processing.dagbag import DagBag
    import include.cdc.airflow.dbt_group as dbt_group
    root = Path(sys.argv[1]).resolve()
    assert Path(dbt_group.__file__).resolve().is_relative_to(root), dbt_group.__file__

    def parse():
        bag = DagBag(str(root / "dags"))
        return {"dags": sorted(bag.dags), "errors": {k: str(v) for k, v in bag.import_errors.items()}}

    parsed = {"manifest": str(dbt_group.MANIFEST), "as_mounted": parse()}
    # The same, with the manifest where it used to be built: under include/dbt/target, which the mount hides.
    built, moved = root / "dbt_target", root / "dbt_target.moved"
    built.rename(moved)
    try:
        parsed["manifest_under_include"] = parse()
    finally:
        moved.rename(built)
    print(json.dumps(parsed))
    """
)


@pytest.fixture(scope="module")
def astro_dev_start(tmp_path_factory) -> dict:
    """The DAGs parsed in the image's tree with Astro's mounts in place."""
    root = tmp_path_factory.mktemp("image") / "airflow"
    root.mkdir()
    build_image(root)
    mount_working_tree(root)
    assert not (root / "include" / "dbt" / "target").exists(), "a clone has no include/dbt/target"
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://nobody:x@192.0.2.1:1/none",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    }
    # -I: neither this checkout (the working directory, PYTHONPATH) nor user site-packages on sys.path;
    # the image's project folder is, as in the containers.
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(root)!r})\n{PARSE}", str(root)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {"root": root, **json.loads(result.stdout.strip().splitlines()[-1])}


def test_the_dags_parse_under_astro_dev_starts_mounts(astro_dev_start):
    parsed = astro_dev_start["as_mounted"]
    assert parsed["errors"] == {}
    assert parsed["dags"] == ["bi_refresh", "product_cdc_sync"]
    manifest = Path(astro_dev_start["manifest"])
    assert manifest == astro_dev_start["root"] / DBT_MANIFEST.relative_to(REPO)


def test_a_manifest_built_under_include_would_be_hidden_by_the_mount(astro_dev_start):
    """The test can fail: without the image's dbt_target/ (a manifest built under include/dbt/target,
    hidden by the mounted include/), the DAG does not import."""
    parsed = astro_dev_start["manifest_under_include"]
    (error,) = parsed["errors"].values()
    assert "manifest" in error.lower(), error
    assert parsed["dags"] == ["bi_refresh"]
