"""Every built notebook matches its percent-format source (scripts/build_notebooks.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "build_notebooks.py"

_spec = importlib.util.spec_from_file_location("build_notebooks", SCRIPT)
build_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_notebooks)


def test_all_notebooks_match_their_sources():
    sources = build_notebooks.find_sources()
    assert sources, "no notebook sources found under notebooks/"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--all"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_source_has_its_notebook_and_no_notebook_lacks_a_source():
    sources = {p.with_suffix("") for p in build_notebooks.find_sources()}
    notebooks = {
        p.with_suffix("") for p in (REPO / "notebooks").rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    }
    assert sources - notebooks == set(), "sources never built"
    assert notebooks - sources == set(), "notebooks without a .py source"


def test_parse_source_reads_cells_and_nbval_mode():
    text = (
        "# nbval: strict\n"
        "# %% [markdown]\n"
        "# # Title\n"
        "#\n"
        "# Text with `code`.\n"
        "\n"
        "# %%\n"
        "x = 1  # a comment\n"
        "\n"
        "print(x)\n"
        "\n"
        "\n"
        "# %%\n"
        "# NBVAL_IGNORE_OUTPUT\n"
        "print(2)\n"
    )
    mode, cells = build_notebooks.parse_source(text)
    assert mode == "strict"
    assert cells == [
        ("markdown", "# Title\n\nText with `code`."),
        ("code", "x = 1  # a comment\n\nprint(x)"),
        ("code", "# NBVAL_IGNORE_OUTPUT\nprint(2)"),
    ]
    assert build_notebooks.parse_source("# %%\n1\n")[0] == "lax"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("# nbval: sometimes\n# %%\n1\n", "strict' or 'lax"),
        ("import os\n# %%\n1\n", "before the first"),
        ("# %% [raw]\nx\n", "cell starts with"),
        ("# %% [markdown]\nnot a comment\n", "must start with '# '"),
        ("# %%\n\n# %%\n1\n", "empty cell"),
        ("", "no '# %%' cells"),
    ],
)
def test_parse_source_refuses_what_it_does_not_understand(text, problem):
    with pytest.raises(build_notebooks.SourceError, match=problem):
        build_notebooks.parse_source(text)


def _write_pair(folder: Path, source: str) -> Path:
    """A source and its (unexecuted) notebook, as the build would write them."""
    path = folder / "demo.py"
    path.write_text(source, encoding="utf-8")
    nbformat.write(build_notebooks.notebook_from_source(path), path.with_suffix(".ipynb"))
    return path


def test_check_detects_drift(tmp_path):
    path = _write_pair(tmp_path, "# %% [markdown]\n# Hi\n# %%\nprint(1)\n")
    assert build_notebooks.drift(path) is None

    path.write_text("# %% [markdown]\n# Hi\n# %%\nprint(2)\n", encoding="utf-8")
    assert build_notebooks.drift(path) == "cell 2 differs"

    path.write_text("# nbval: strict\n# %% [markdown]\n# Hi\n# %%\nprint(1)\n", encoding="utf-8")
    assert build_notebooks.drift(path) == "nbval mode differs"

    path.write_text("# %% [markdown]\n# Hi\n", encoding="utf-8")
    assert "cells" in build_notebooks.drift(path)

    path.with_suffix(".ipynb").unlink()
    assert build_notebooks.drift(path) == "no .ipynb built yet"
    assert build_notebooks.main(["--check", str(path)]) == 1


def test_built_notebook_metadata_is_stable(tmp_path):
    path = _write_pair(tmp_path, "# nbval: strict\n# %%\n1\n# %%\n1\n")
    nb = nbformat.read(path.with_suffix(".ipynb"), as_version=4)
    assert nb.metadata["course"] == {"nbval": "strict"}
    assert "version" not in nb.metadata["language_info"]
    ids = [cell.id for cell in nb.cells]
    assert len(set(ids)) == 2  # identical cells still get distinct ids
    again = build_notebooks.notebook_from_source(path)
    assert [cell.id for cell in again.cells] == ids  # ids do not change between builds


def test_make_deterministic_drops_timings_and_widget_views():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("form()")
    cell.metadata["execution"] = {"iopub.execute_input": "2026-11-23T10:00:00Z"}
    cell.outputs = [
        nbformat.v4.new_output(
            "execute_result",
            data={build_notebooks.WIDGET_VIEW: {"model_id": "abc"}, "text/plain": "VBox()"},
            execution_count=1,
        ),
        nbformat.v4.new_output("stream", name="stdout", text="kept\n"),
    ]
    nb.cells.append(cell)
    nb.metadata["widgets"] = {"state": {}}
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    build_notebooks.make_deterministic(nb)
    assert "execution" not in nb.cells[0].metadata
    assert [out.output_type for out in nb.cells[0].outputs] == ["stream"]
    assert "widgets" not in nb.metadata
    assert "version" not in nb.metadata["language_info"]
