"""The Astro project's files, as `astro dev start` and `astro deploy` read them (no Docker here)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Astro Runtime images for Airflow 3: astrocrpublic.azurecr.io/runtime:<Airflow major.minor>-<release>
RUNTIME_IMAGE = re.compile(r"astrocrpublic\.azurecr\.io/runtime:(?P<airflow>\d+\.\d+)-(?P<release>\d+)")


def base_image() -> str:
    (line,) = [line for line in (REPO / "Dockerfile").read_text().splitlines() if line.startswith("FROM ")]
    return line.split()[1]


def pinned_airflow() -> str:
    requirements = (REPO / "requirements-dev.txt").read_text()
    return re.search(r"^apache-airflow==(\S+)$", requirements, re.MULTILINE).group(1)


def test_the_base_image_is_an_astro_runtime_image_as_the_registry_names_them():
    assert RUNTIME_IMAGE.fullmatch(base_image()), base_image()


def test_the_base_image_runs_the_airflow_minor_version_the_project_is_developed_and_tested_on():
    major, minor, _ = pinned_airflow().split(".", 2)
    assert RUNTIME_IMAGE.fullmatch(base_image())["airflow"] == f"{major}.{minor}"
