"""The dashboard as code: ``include/superset`` is a Superset export bundle (the YAML of
``superset export-dashboards``), zipped here for Superset's import (UI, CLI or API).

``python -m devstack.superset.bundle OUT.zip`` builds the zip a deployment imports (Dashboards >
Import, or ``superset import-dashboards -p OUT.zip -u admin``); Superset then asks for the password of
the "Cord warehouse" database, which the bundle never holds. The local stack builds the same zip with
the database's URI pointed at its own warehouse and passes the password beside it (superset.py).
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import yaml

from devstack.stack.config import REPO

FOLDER = REPO / "include" / "superset"
ROOT = "cord_superset_bundle"  # Superset's import drops the zip's top folder, whatever its name
MASK = "XXXXXXXXXX"  # how Superset's exports write a database password


def database_files(folder: Path = FOLDER) -> list[str]:
    """The bundle's database files, as Superset's import names them (its ``passwords`` keys)."""
    return sorted(str(p.relative_to(folder)) for p in (folder / "databases").glob("*.yaml"))


def build(folder: Path = FOLDER, sqlalchemy_uri: str | None = None) -> bytes:
    """The zip of ``folder``; with ``sqlalchemy_uri`` (password masked), every database points there."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*.yaml")):
            name = str(path.relative_to(folder))
            text = path.read_text()
            if sqlalchemy_uri and name in database_files(folder):
                if MASK not in sqlalchemy_uri:
                    raise ValueError("the bundle's database URI must hold the masked password, not one")
                config = yaml.safe_load(text)
                config["sqlalchemy_uri"] = sqlalchemy_uri
                text = yaml.safe_dump(config, sort_keys=False)
            bundle.writestr(f"{ROOT}/{name}", text)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description="Zip include/superset for Superset's dashboard import.")
    parser.add_argument("out", type=Path, help="the zip to write")
    args = parser.parse_args()
    args.out.write_bytes(build())
    print(f"wrote {args.out}; Superset's import asks for the password of bi_reader")


if __name__ == "__main__":
    main()
