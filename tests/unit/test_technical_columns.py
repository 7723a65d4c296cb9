"""The technical columns are defined once (include/dbt/cdc_technical_columns.yml) and copied into each
staging model's property file; these tests fail when a copy drifts from the definition."""

from __future__ import annotations

import pytest
import yaml

from devstack import technical_columns
from devstack.technical_columns import DEFINITION, staging_property_files, with_current_block


def test_every_staging_property_file_holds_the_current_copy():
    assert technical_columns.main(["--check"]) == 0, "run: python -m devstack.technical_columns"


@pytest.mark.parametrize("path", staging_property_files(), ids=lambda p: p.name)
def test_a_staging_model_adds_exactly_the_defined_technical_columns_after_its_contract(path):
    (model,) = yaml.safe_load(path.read_text())["models"]
    columns = model["columns"]
    captured = [c for c in columns if "source_column" in (c.get("meta") or {})]
    assert columns == captured + yaml.safe_load(DEFINITION.read_text())


def test_an_edited_copy_is_put_back_and_a_missing_block_is_refused():
    path = staging_property_files()[0]
    text = path.read_text()
    edited = text.replace("Offset of the latest event.", "Offset.")
    assert edited != text
    assert with_current_block(edited, path) == text
    with pytest.raises(SystemExit, match="one technical-columns block"):
        with_current_block(text.replace(technical_columns.END, "# end"), path)
