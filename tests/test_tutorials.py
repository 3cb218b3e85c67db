"""Every tutorial in docs/tutorials/ runs top to bottom, as the docs build executes it.

Each page is a MyST-NB markdown notebook: jupytext turns it into a notebook and nbclient
runs it in a fresh kernel, in a temporary working directory; any exception in any cell
fails the test with the cell's traceback. The run time of each page is printed
(`pytest -s tests/test_tutorials.py`): a tutorial must stay a few seconds on a CPU.
Needs jupytext, nbclient and ipykernel (the docs extra); skipped with the reason without.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p for p in (ROOT / "docs" / "tutorials").glob("*.md") if p.name != "index.md")
TIMEOUT = 120  # seconds per cell: far above what any page takes, but a hang ends


def _notebook_tools():
    """(jupytext, nbclient), or skip the test saying what is missing."""
    missing = []
    try:
        import jupytext
    except ImportError:
        missing.append("jupytext")
    try:
        import nbclient
    except ImportError:
        missing.append("nbclient")
    try:
        import ipykernel  # noqa: F401  (the kernel nbclient starts)
    except ImportError:
        missing.append("ipykernel")
    if missing:
        pytest.skip(f"running the tutorials needs {', '.join(missing)} "
                    '(pip install -e ".[docs]")')
    return jupytext, nbclient


def test_there_are_tutorials():
    assert PAGES, "docs/tutorials/ has no tutorial pages"
    index = (ROOT / "docs" / "tutorials" / "index.md").read_text()
    for page in PAGES:
        assert page.stem in index, f"docs/tutorials/index.md does not list {page.name}"


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_tutorial_runs(page, tmp_path, monkeypatch):
    jupytext, nbclient = _notebook_tools()
    text = page.read_text()
    assert text.startswith("---\nfile_format: mystnb\n"), f"{page.name}: no MyST-NB header"
    notebook = jupytext.reads(text, fmt="md:myst")
    assert any(c.cell_type == "code" for c in notebook.cells), f"{page.name}: no code cells"
    monkeypatch.setenv("MPLBACKEND", "Agg")  # plots never open a window
    client = nbclient.NotebookClient(notebook, timeout=TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the traceback, on any error
    seconds = time.perf_counter() - start
    print(f"\n{page.name}: {seconds:.1f} s")
