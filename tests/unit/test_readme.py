"""README and code agree: the configuration table is generated from Settings."""

import re

from tests.conftest import ROOT
from tutor.config import settings_table


def test_readme_settings_table_matches_settings():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->", text, re.S)
    assert block, "README lacks the settings-table markers"
    assert block.group(1).strip() == settings_table().strip(), "run `make readme` to regenerate the table"


def test_readme_shows_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text
