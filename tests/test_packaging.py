"""What `pip install gradkit` (not editable) ships: every package of the source tree.

setuptools installs only the packages pyproject.toml lists; an editable install hides a
missing one (it imports from the source tree), so a package left out of the list breaks
`import gradkit` for every user of the wheel while the suite stays green.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_every_package_directory_is_listed_in_pyproject():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    dirs = config.get("package-dir", {})
    on_disk = {".".join(p.parent.relative_to(ROOT).parts)
               for p in (ROOT / "gradkit").rglob("__init__.py")}
    on_disk |= {name + "." + ".".join(p.parent.relative_to(ROOT / where).parts)
                if p.parent != ROOT / where else name
                for name, where in dirs.items() for p in (ROOT / where).rglob("__init__.py")}
    assert on_disk - listed == set(), "packages missing from [tool.setuptools] packages"
    assert listed - on_disk == set(), "packages listed that do not exist"


def test_readme_links_are_absolute():
    """The README is also the package index page, where relative links break."""
    import re

    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert links and all(link.startswith(("https://", "#")) for link in links), links


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_the_version_is_written_once():
    from tomllib import loads as tomllib_loads

    import gradkit

    pyproject = (ROOT / "pyproject.toml").read_text()
    project = tomllib_loads(pyproject)
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "gradkit.__version__"}
    assert gradkit.__version__.count(".") == 2
