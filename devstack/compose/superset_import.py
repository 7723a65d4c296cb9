"""Import include/superset into the superset service's Superset (docker-compose.override.yml), as the
local stack does (devstack/stack/superset.py): every object overwritten by the bundle's, and the
password of the "Cord warehouse" database, bi_reader's, from the environment (.env), never in the
bundle or on a command line. Runs with Superset's own Python, inside its container."""

from __future__ import annotations

import os
from pathlib import Path

from flask import g
from superset.app import create_app

BUNDLE = Path("/app/cord/superset")

app = create_app()
with app.app_context():
    from superset import security_manager
    from superset.commands.importers.v1.assets import ImportAssetsCommand

    contents = {str(p.relative_to(BUNDLE)): p.read_text() for p in sorted(BUNDLE.rglob("*.yaml"))}
    password = os.environ["BI_READER_PASSWORD"]
    passwords = {name: password for name in contents if name.startswith("databases/")}
    g.user = security_manager.find_user(username="admin")
    ImportAssetsCommand(contents, passwords=passwords).run()
    print(f"imported {len(contents)} files of include/superset")
