"""Course notebooks built from their percent-format sources: executed, synced, or checked.

The source ``<name>.py`` (see ``utils.course.notebook_source``) becomes ``<name>.ipynb``
beside it. ``build`` executes it (kernel ``python3`` of the running Python, working
directory = the notebook's folder, ``CELL_TIMEOUT_S`` per cell). ``sync`` rewrites the
notebook's cells from the source without executing, keeping each cell's outputs. ``drift``
says whether a notebook still matches its source. The command line
(``main``) is ``scripts/build_notebooks.py``.

A written notebook is deterministic: no timing metadata, no widget state, no random widget
model ids, cell ids derived from the cell contents, kernel metadata without version
numbers. Each cell carries its source's tags (nbval reads its own); an exercise cell also
carries ``course.role`` and ``course.exercise`` (the grader finds the learner's cell by it),
and solution and check cells start with their source hidden.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from utils.course.learner import repo_root
from utils.course.notebook_source import SourceCell, SourceError, find_sources, read_source_file
from utils.spikelab.atomic import atomic_write

CELL_TIMEOUT_S = 600
DEFAULT_BUILD_LEARNER = "example-complete"   # whose notes a build writes, unless LEARNER is set
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}

USAGE = "Build course notebooks from their percent-format sources, executed, with stable outputs."


def notebooks_dir() -> Path:
    """The folder of the master notebooks and their sources: ``<repo>/notebooks``."""
    return repo_root() / "notebooks"


def all_sources() -> list[Path]:
    """Every notebook source under ``notebooks/``, sorted."""
    return find_sources(notebooks_dir())


def shown(path: Path) -> str:
    """A path relative to the repository when possible (messages never show absolute paths)."""
    try:
        return Path(path).resolve().relative_to(repo_root()).as_posix()
    except ValueError:
        return Path(path).name


def _cell_id(cell_type: str, source: str, seen: dict[str, int]) -> str:
    """A stable cell id from the cell's contents (a counter tells identical cells apart)."""
    digest = hashlib.sha1(f"{cell_type}\n{source}".encode("utf-8")).hexdigest()[:12]
    seen[digest] = seen.get(digest, 0) + 1
    return digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


def _notebook_cell(cell: SourceCell) -> nbformat.NotebookNode:
    """The notebook cell of one source cell, with its tags and course metadata."""
    if cell.cell_type == "code":
        out = nbformat.v4.new_code_cell(cell.source)
    else:
        out = nbformat.v4.new_markdown_cell(cell.source)
    if cell.tags:
        out.metadata["tags"] = list(cell.tags)
    if cell.role:
        out.metadata["course"] = {"role": cell.role, "exercise": cell.exercise}
        if cell.role in ("solution", "check"):
            out.metadata["jupyter"] = {"source_hidden": True}
    return out


def notebook_from_source(source_path: Path, audience: str = "master") -> nbformat.NotebookNode:
    """The unexecuted notebook for one percent-format source file.

    ``audience="master"``: solutions and hidden checks (what CI runs, in notebooks/).
    ``audience="learner"``: each solution replaced by its stub, checks left out.
    """
    if audience not in ("master", "learner"):
        raise ValueError(f"audience must be 'master' or 'learner', not {audience!r}")
    mode, cells = read_source_file(source_path, shown(source_path))
    stubs = {c.exercise: c for c in cells if c.role == "stub"}
    nb = nbformat.v4.new_notebook()
    seen: dict[str, int] = {}
    for cell in cells:
        if cell.role == "stub" or (audience == "learner" and cell.role == "check"):
            continue
        if audience == "learner" and cell.role == "solution":
            cell = stubs[cell.exercise]
        out = _notebook_cell(cell)
        out["id"] = _cell_id(cell.cell_type, cell.source, seen)
        nb.cells.append(out)
    nb.metadata = nbformat.from_dict(
        {"course": {"nbval": mode}, "kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    )
    return nb


def make_deterministic(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove what changes from one run to the next: timings, widget state and model ids, stream chunking."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            # A widget's view holds a random model id, and its state is not saved, so a
            # stored widget would show only an error: the learner runs the cell to see it.
            kept = []
            for out in cell.outputs:
                if out.get("output_type") in ("display_data", "execute_result") and WIDGET_VIEW in out.get("data", {}):
                    continue
                # the kernel splits one print's text into stream chunks as timing allows: join them
                if (out.get("output_type") == "stream" and kept and kept[-1].get("output_type") == "stream"
                        and kept[-1].get("name") == out.get("name")):
                    kept[-1]["text"] = kept[-1]["text"] + out["text"]
                    continue
                kept.append(out)
            cell.outputs = kept
    course = nb.metadata.get("course", {})
    nb.metadata = nbformat.from_dict(
        {"course": course, "kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    )
    return nb


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """The notebook as the text written to disk (validated, ending with a newline)."""
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def build(source_path: Path) -> None:
    """Convert one source into its notebook, execute it, and write it beside the source."""
    nb = notebook_from_source(source_path)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(source_path).parent)}},
        record_timing=False,
        store_widget_state=False,
    )
    client.execute()
    make_deterministic(nb)
    atomic_write(Path(source_path).with_suffix(".ipynb"), notebook_text(nb))


def _comparable(cell) -> tuple:
    """What of a cell must match its source: type, text, id and metadata (outputs aside)."""
    meta = {k: v for k, v in cell.get("metadata", {}).items() if k != "execution"}
    return cell.get("cell_type"), cell.get("source"), cell.get("id"), meta


def drift(source_path: Path) -> str | None:
    """Why the notebook beside ``source_path`` does not match it, or None when it does."""
    target = Path(source_path).with_suffix(".ipynb")
    if not target.exists():
        return "no .ipynb built yet"
    expected = notebook_from_source(source_path)
    built = nbformat.read(target, as_version=4)
    if built.metadata.get("course", {}).get("nbval", "lax") != expected.metadata["course"]["nbval"]:
        return "nbval mode differs"
    if len(expected.cells) != len(built.cells):
        return f"{len(built.cells)} cells in the notebook, {len(expected.cells)} in the source"
    for index, (want, have) in enumerate(zip(expected.cells, built.cells), start=1):
        w, h = _comparable(want), _comparable(have)
        if w[:2] != h[:2]:
            return f"cell {index} differs"
        if w != h:
            return f"cell {index}'s id or metadata (tags) differ"
    return None


def sync(source_path: Path) -> bool:
    """Rewrite the notebook's cells and metadata from its source, keeping outputs; True if it changed.

    Nothing is executed: each cell keeps the outputs and execution count it had. Refuses
    (ValueError) when the cell count or a cell's type differs: the outputs would no longer
    belong to their cells, so the notebook must be built instead.
    """
    target = Path(source_path).with_suffix(".ipynb")
    if not target.exists():
        raise ValueError(f"{shown(target)}: no .ipynb built yet: build it instead")
    old_text = target.read_text(encoding="utf-8")
    old = nbformat.reads(old_text, as_version=4)
    new = notebook_from_source(source_path)
    if len(old.cells) != len(new.cells):
        raise ValueError(f"{shown(target)}: {len(old.cells)} cells in the notebook, {len(new.cells)} in "
                         "the source: build it instead")
    for index, (was, cell) in enumerate(zip(old.cells, new.cells), start=1):
        if was.cell_type != cell.cell_type:
            raise ValueError(f"{shown(target)}: cell {index} is {was.cell_type} in the notebook, "
                             f"{cell.cell_type} in the source: build it instead")
        if cell.cell_type == "code":
            cell.outputs = copy.deepcopy(was.get("outputs", []))
            cell.execution_count = was.get("execution_count")
    text = notebook_text(new)
    if text == old_text:
        return False
    atomic_write(target, text)
    return True


# --------------------------------------------------------------------------- command line

def check(sources: list[Path]) -> int:
    """``--check``: report every notebook that differs from its source."""
    drifted = []
    for source in sources:
        try:
            reason = drift(source)
        except SourceError as err:
            reason = str(err)
        if reason:
            drifted.append(f"{shown(source.with_suffix('.ipynb'))}: {reason}")
    for line in drifted:
        print(f"DRIFT {line}")
    if drifted:
        print(f"{len(drifted)} notebook(s) differ from their source; rebuild with "
              "`.venv/bin/python scripts/build_notebooks.py <source.py>` (or --sync when only "
              "cell texts or tags changed).")
        return 1
    print(f"{len(sources)} notebook(s) match their sources.")
    return 0


def sync_all(sources: list[Path]) -> int:
    """``--sync``: update each notebook from its source, keeping outputs."""
    failed = 0
    for source in sources:
        try:
            changed = sync(source)
        except (SourceError, ValueError) as err:
            print(f"NOT SYNCED {err}", file=sys.stderr)
            failed += 1
            continue
        if changed:
            print(f"synced {shown(source.with_suffix('.ipynb'))}")
    if failed:
        print(f"{failed} notebook(s) not synced: build them instead.", file=sys.stderr)
    return 1 if failed else 0


def build_all(sources: list[Path]) -> int:
    """Execute and write every notebook; report every failure, then fail."""
    if not os.environ.get("LEARNER", "").strip():
        os.environ["LEARNER"] = DEFAULT_BUILD_LEARNER
    os.environ["COURSE_LANG"] = "en"     # the committed outputs are English, whatever language the builder reads
    failed = []
    for source in sources:
        started = time.monotonic()
        print(f"building {shown(source.with_suffix('.ipynb'))} (LEARNER={os.environ['LEARNER']}) ...", flush=True)
        try:
            build(source)
        except Exception as err:  # report every notebook, then fail
            failed.append(shown(source))
            print(f"FAILED {shown(source)}: {type(err).__name__}: {err}", file=sys.stderr)
            continue
        print(f"  done in {time.monotonic() - started:.1f} s", flush=True)
    if failed:
        print(f"{len(failed)} notebook(s) failed to build (their .ipynb was left as it was): "
              + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/build_notebooks.py", description=USAGE)
    parser.add_argument("sources", nargs="*", type=Path, help="percent-format .py sources")
    parser.add_argument("--all", action="store_true", help="every source under notebooks/")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only check that notebooks match their sources")
    mode.add_argument("--sync", action="store_true",
                      help="copy the sources' cells into the notebooks, keeping outputs (no execution)")
    args = parser.parse_args(argv)

    sources = list(args.sources)
    if args.all:
        sources += all_sources()
    if not sources:
        parser.error("name source files or use --all")
    for source in sources:
        if source.suffix != ".py" or not source.is_file():
            parser.error(f"{source} is not a .py source file")
    if args.check:
        return check(sources)
    if args.sync:
        return sync_all(sources)
    return build_all(sources)

