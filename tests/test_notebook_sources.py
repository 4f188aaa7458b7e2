"""Every built notebook matches its percent-format source (utils.course.notebook_source / notebook_build,
command line scripts/build_notebooks.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import metadata_tags

from utils.course import notebook_build
from utils.course.notebook_source import SourceCell, SourceError, read_source

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "build_notebooks.py"
STRICT = "# ---\n# jupyter:\n#   course:\n#     nbval: strict\n# ---\n\n"


def test_all_notebooks_match_their_sources():
    sources = notebook_build.all_sources()
    assert sources, "no notebook sources found under notebooks/"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--all"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_source_has_its_notebook_and_no_notebook_lacks_a_source():
    sources = {p.with_suffix("") for p in notebook_build.all_sources()}
    notebooks = {
        p.with_suffix("") for p in (REPO / "notebooks").rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    }
    assert sources - notebooks == set(), "sources never built"
    assert notebooks - sources == set(), "notebooks without a .py source"


def test_read_source_reads_cells_tags_and_nbval_mode():
    text = (
        STRICT
        + "# %% [markdown]\n"
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
        '# %% tags=["nbval-ignore-output"]\n'
        "print(2)\n"
        "\n"
        '# %% tags=["stub"] exercise="ema-50"\n'
        "ema = exercise_todo('ema-50', 'the EMA')\n"
        "\n"
        '# %% tags=["solution", "nbval-check-output"] exercise="ema-50"\n'
        "ema = 50\n"
        "\n"
        '# %% tags=["check"] exercise="ema-50"\n'
        "assert ema == 50\n"
    )
    mode, cells = read_source(text)
    assert mode == "strict"
    assert cells == [
        SourceCell("markdown", "# Title\n\nText with `code`."),
        SourceCell("code", "x = 1  # a comment\n\nprint(x)"),
        SourceCell("code", "print(2)", ("nbval-ignore-output",)),
        SourceCell("code", "ema = exercise_todo('ema-50', 'the EMA')", ("stub",), "stub", "ema-50"),
        SourceCell("code", "ema = 50", ("solution", "nbval-check-output"), "solution", "ema-50"),
        SourceCell("code", "assert ema == 50", ("check",), "check", "ema-50"),
    ]
    assert read_source("# %%\n1\n")[0] == "lax"


@pytest.mark.parametrize(
    "text, problem",
    [
        (STRICT.replace("strict", "sometimes") + "# %%\n1\n", "strict' or 'lax"),
        ("import os\n# %%\n1\n", "before the first"),
        ("# %% [raw]\nx\n", "not a raw cell"),
        ("# %% [markdown]\nnot a comment\n", "must start with '# '"),
        ("# %%\n\n# %%\n1\n", "empty cell"),
        ("", "no '# %%' cells"),
        ("# %% [solution] id=ema-50\n1\n", "old '\\[solution\\] id=x' marker"),
        ('# %% tags=["nbval-check-ouput"]\n1\n', "unknown tag"),
        ('# %% tags=["solution"]\n1\n', "go together"),
        ('# %% exercise="ema-50"\n1\n', "go together"),
        ('# %% tags=["solution", "check"] exercise="x"\n1\n', "one role tag"),
        ('# %% tags=["stub"] exercise="Bad Id"\n1\n', "exercise id"),
        ('# %% tags=["solution"] exercise="x"\n1\n', "unpaired: \\['x'\\]"),
        ("# ---\n# jupyter:\n#   course:\n#     nbval: strict\n# %%\n1\n", "never closed"),
    ],
)
def test_read_source_refuses_what_it_does_not_understand(text, problem):
    with pytest.raises(SourceError, match=problem):
        read_source(text)


def _write_pair(folder: Path, source: str) -> Path:
    """A source and its (unexecuted) notebook, as the build would write them."""
    path = folder / "demo.py"
    path.write_text(source, encoding="utf-8")
    path.with_suffix(".ipynb").write_text(
        notebook_build.notebook_text(notebook_build.notebook_from_source(path)), encoding="utf-8")
    return path


def test_check_detects_drift(tmp_path):
    path = _write_pair(tmp_path, "# %% [markdown]\n# Hi\n# %%\nprint(1)\n")
    assert notebook_build.drift(path) is None

    path.write_text("# %% [markdown]\n# Hi\n# %%\nprint(2)\n", encoding="utf-8")
    assert notebook_build.drift(path) == "cell 2 differs"

    path.write_text('# %% [markdown]\n# Hi\n# %% tags=["nbval-check-output"]\nprint(1)\n', encoding="utf-8")
    assert notebook_build.drift(path) == "cell 2's id or metadata (tags) differ"

    path.write_text(STRICT + "# %% [markdown]\n# Hi\n# %%\nprint(1)\n", encoding="utf-8")
    assert notebook_build.drift(path) == "nbval mode differs"

    path.write_text("# %% [markdown]\n# Hi\n", encoding="utf-8")
    assert "cells" in notebook_build.drift(path)

    path.with_suffix(".ipynb").unlink()
    assert notebook_build.drift(path) == "no .ipynb built yet"
    assert notebook_build.main(["--check", str(path)]) == 1


def test_sync_copies_cells_and_tags_and_keeps_outputs(tmp_path):
    path = _write_pair(tmp_path, "# %% [markdown]\n# Hi\n# %%\nprint(1)\n")
    target = path.with_suffix(".ipynb")
    nb = nbformat.read(target, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nb.cells[1].execution_count = 1
    nbformat.write(nb, target)
    assert notebook_build.sync(path) is False  # nothing to change: the file is left alone

    path.write_text('# %% [markdown]\n# Hello\n# %% tags=["nbval-check-output"]\nprint( 1 )\n', encoding="utf-8")
    assert notebook_build.drift(path) is not None
    assert notebook_build.main(["--sync", str(path)]) == 0
    assert notebook_build.drift(path) is None
    synced = nbformat.read(target, as_version=4)
    assert synced.cells[1].source == "print( 1 )"
    assert synced.cells[1].metadata["tags"] == ["nbval-check-output"]
    assert [o.text for o in synced.cells[1].outputs] == ["1\n"] and synced.cells[1].execution_count == 1

    before = target.read_bytes()
    for changed in ("# %% [markdown]\n# Hello\n", "# %%\nx = 1\n# %%\nprint(1)\n"):
        path.write_text(changed, encoding="utf-8")
        with pytest.raises(ValueError, match="build it instead"):
            notebook_build.sync(path)
        assert notebook_build.main(["--sync", str(path)]) == 1
    assert target.read_bytes() == before


def test_built_notebook_metadata_is_stable(tmp_path):
    path = _write_pair(tmp_path, STRICT + "# %%\n1\n# %%\n1\n")
    nb = nbformat.read(path.with_suffix(".ipynb"), as_version=4)
    assert nb.metadata["course"] == {"nbval": "strict"}
    assert "version" not in nb.metadata["language_info"]
    assert "jupytext" not in nb.metadata
    ids = [cell.id for cell in nb.cells]
    assert len(set(ids)) == 2  # identical cells still get distinct ids
    again = notebook_build.notebook_from_source(path)
    assert [cell.id for cell in again.cells] == ids  # ids do not change between builds


def test_exercise_cells_carry_tags_and_course_metadata(tmp_path):
    path = tmp_path / "ex.py"
    path.write_text('# %% tags=["stub"] exercise="a"\nx = todo()\n# %% tags=["solution"] exercise="a"\nx = 1\n'
                    '# %% tags=["check", "nbval-ignore-output"] exercise="a"\nassert x == 1\n', encoding="utf-8")
    master = notebook_build.notebook_from_source(path)
    assert [c.metadata for c in master.cells] == [
        {"tags": ["solution"], "course": {"role": "solution", "exercise": "a"}, "jupyter": {"source_hidden": True}},
        {"tags": ["check", "nbval-ignore-output"], "course": {"role": "check", "exercise": "a"},
         "jupyter": {"source_hidden": True}},
    ]
    learner = notebook_build.notebook_from_source(path, audience="learner")
    assert [(c.source, c.metadata) for c in learner.cells] == [
        ("x = todo()", {"tags": ["stub"], "course": {"role": "stub", "exercise": "a"}})]


def test_make_deterministic_drops_timings_and_widget_views_and_joins_streams():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("form()")
    cell.metadata["execution"] = {"iopub.execute_input": "2026-11-23T10:00:00Z"}
    cell.outputs = [
        nbformat.v4.new_output(
            "execute_result",
            data={notebook_build.WIDGET_VIEW: {"model_id": "abc"}, "text/plain": "VBox()"},
            execution_count=1,
        ),
        nbformat.v4.new_output("stream", name="stdout", text="kept\n"),
        nbformat.v4.new_output("stream", name="stdout", text="joined\n"),
        nbformat.v4.new_output("stream", name="stderr", text="apart\n"),
    ]
    nb.cells.append(cell)
    nb.metadata["widgets"] = {"state": {}}
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    notebook_build.make_deterministic(nb)
    assert "execution" not in nb.cells[0].metadata
    assert [(out.output_type, out.name, out.text) for out in nb.cells[0].outputs] == [
        ("stream", "stdout", "kept\njoined\n"), ("stream", "stderr", "apart\n")]
    assert "widgets" not in nb.metadata
    assert "version" not in nb.metadata["language_info"]


def test_nbval_reads_the_output_tags():
    """The tags the sources use are the ones nbval 0.11 honours (its own table of cell tags)."""
    assert metadata_tags["nbval-check-output"] == "check"
    assert metadata_tags["nbval-ignore-output"] == ("check", False)
    tagged = {t for p in notebook_build.all_sources() for c in notebook_build.notebook_from_source(p).cells
              for t in c.metadata.get("tags", []) if t.startswith("nbval")}
    assert tagged <= set(metadata_tags) and {"nbval-check-output", "nbval-ignore-output"} <= tagged
