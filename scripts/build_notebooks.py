"""Build course notebooks from their percent-format sources, executed, with stable outputs.

A source ``notebooks/**/<name>.py`` looks like this::

    # nbval: strict              <- optional first line: how scripts/test.sh checks it (default lax)
    # %% [markdown]
    # # A title
    # Some text.
    # %%
    print("a code cell")

It is turned into ``<name>.ipynb`` beside it and executed in place (kernel ``python3`` of
the Python running this script, working directory = the notebook's folder, 600 s per
cell, ``LEARNER=example-complete`` unless ``LEARNER`` is set; ``COURSE_LEARNERS_DIR`` is
passed through). The written notebook is deterministic: no timing metadata, no widget
state, no random widget model ids, cell ids derived from the cell contents, kernel
metadata without version numbers.

Usage::

    .venv/bin/python scripts/build_notebooks.py notebooks/00-start-here.py [more.py ...]
    .venv/bin/python scripts/build_notebooks.py --all
    .venv/bin/python scripts/build_notebooks.py --check [--all | files]   # no execution

``--check`` only verifies that each ``.ipynb`` holds exactly the cells (and nbval mode)
of its ``.py`` source; it exits 1 and lists the notebooks that drifted.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
CELL_TIMEOUT_S = 600
DEFAULT_BUILD_LEARNER = "example-complete"
NBVAL_LINE = re.compile(r"#\s*nbval:\s*(\S+)\s*$")
CELL_MARKER = re.compile(r"# %%(.*)$")
# Exercise cells: "# %% [solution] id=ema-50", "# %% [stub] id=ema-50", "# %% [check] id=ema-50".
ROLE_MARKER = re.compile(r"\[(solution|stub|check)\]\s+id=([a-z0-9][a-z0-9-]*)$")
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


class SourceError(ValueError):
    """A percent-format source that cannot be turned into a notebook."""


def _trim_blank_lines(lines: list[str]) -> list[str]:
    """Drop blank lines at the start and end of a cell."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def parse_source(text: str, name: str = "<source>") -> tuple[str, list[tuple[str, str]]]:
    """(nbval mode, [(cell type, cell source), ...]) of the master notebook (no stub cells)."""
    mode, cells = parse_cells(text, name)
    return mode, [(t, src) for t, src, role, _ in cells if role != "stub"]


def parse_cells(text: str, name: str = "<source>") -> tuple[str, list[tuple[str, str, str | None, str | None]]]:
    """Split a percent-format source into (nbval mode, [(type, source, role, exercise id), ...]).

    Exercise roles: a ``[solution]`` cell runs in the master notebook (CI checks it); its
    ``[stub]`` twin replaces it in learner copies; a ``[check]`` cell is hidden from learners
    and re-inserted by the grader after the learner's cell with the same id.

    Cell types are "code" and "markdown". Markdown lines must start with "# " (or be "#"
    alone, an empty markdown line); the "# " is removed. Blank lines around a cell are
    dropped. Raises SourceError with the line number for anything it does not understand.
    """
    lines = text.splitlines()
    mode = "lax"
    first = 0
    if lines and NBVAL_LINE.match(lines[0]):
        mode = NBVAL_LINE.match(lines[0]).group(1)
        if mode not in ("strict", "lax"):
            raise SourceError(f"{name}:1: nbval mode must be 'strict' or 'lax', not {mode!r}")
        first = 1

    cells: list[tuple[str, list[str], int, str | None, str | None]] = []
    for number, line in enumerate(lines[first:], start=first + 1):
        marker = CELL_MARKER.match(line)
        if marker:
            rest = marker.group(1).strip()
            role = ROLE_MARKER.match(rest)
            if rest == "":
                cells.append(("code", [], number, None, None))
            elif rest == "[markdown]":
                cells.append(("markdown", [], number, None, None))
            elif role:
                cells.append(("code", [], number, role.group(1), role.group(2)))
            else:
                raise SourceError(
                    f"{name}:{number}: a cell starts with '# %%', '# %% [markdown]' or "
                    f"'# %% [solution|stub|check] id=NAME', not {line!r}"
                )
        elif not cells:
            if line.strip():
                raise SourceError(f"{name}:{number}: text before the first '# %%' cell marker")
        else:
            cells[-1][1].append(line)

    result = []
    for cell_type, body, start, role, ex_id in cells:
        if cell_type == "markdown":
            stripped = []
            for offset, line in enumerate(body, start=start + 1):
                if line == "#" or line.startswith("# "):
                    stripped.append(line[2:])
                elif not line.strip():
                    stripped.append("")
                else:
                    raise SourceError(
                        f"{name}:{offset}: a markdown line must start with '# ' (got {line!r})"
                    )
            body = stripped
        body = _trim_blank_lines(body)
        if not body:
            raise SourceError(f"{name}:{start}: empty cell")
        result.append((cell_type, "\n".join(body), role, ex_id))
    if not result:
        raise SourceError(f"{name}: no '# %%' cells found")
    solutions = {i for _, _, r, i in result if r == "solution"}
    stubs = {i for _, _, r, i in result if r == "stub"}
    if solutions != stubs:
        raise SourceError(f"{name}: every [solution] needs a [stub] with the same id "
                          f"(unpaired: {sorted(solutions ^ stubs)})")
    return mode, result


def _cell_id(cell_type: str, source: str, seen: dict[str, int]) -> str:
    """A stable cell id from the cell's contents (a counter tells identical cells apart)."""
    digest = hashlib.sha1(f"{cell_type}\n{source}".encode("utf-8")).hexdigest()[:12]
    seen[digest] = seen.get(digest, 0) + 1
    return digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


def notebook_from_source(source_path: Path, audience: str = "master") -> nbformat.NotebookNode:
    """The unexecuted notebook for one percent-format source file.

    ``audience="master"``: solutions and hidden checks (what CI runs, in notebooks/).
    ``audience="learner"``: each solution replaced by its stub, checks left out.
    """
    mode, cells = parse_cells(source_path.read_text(encoding="utf-8"), _shown(source_path))
    stubs = {i: src for _, src, r, i in cells if r == "stub"}
    nb = nbformat.v4.new_notebook()
    seen: dict[str, int] = {}
    for cell_type, source, role, ex_id in cells:
        if role == "stub" or (audience == "learner" and role == "check"):
            continue
        if audience == "learner" and role == "solution":
            source, role = stubs[ex_id], "stub"
        if cell_type == "code":
            cell = nbformat.v4.new_code_cell(source)
        else:
            cell = nbformat.v4.new_markdown_cell(source)
        cell["id"] = _cell_id(cell_type, source, seen)
        if role:
            cell.metadata["course"] = {"role": role, "exercise": ex_id}
            if role in ("solution", "check"):
                cell.metadata["jupyter"] = {"source_hidden": True}
        nb.cells.append(cell)
    nb.metadata = nbformat.from_dict(
        {"course": {"nbval": mode}, "kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    )
    return nb


def make_deterministic(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove what changes from one run to the next: timings, widget state and model ids."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            # A widget's view holds a random model id, and its state is not saved, so a
            # stored widget would show only an error: the learner runs the cell to see it.
            cell.outputs = [
                out for out in cell.outputs
                if not (out.get("output_type") in ("display_data", "execute_result")
                        and WIDGET_VIEW in out.get("data", {}))
            ]
    course = nb.metadata.get("course", {})
    nb.metadata = nbformat.from_dict(
        {"course": course, "kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    )
    return nb


def build(source_path: Path) -> None:
    """Convert one source into its notebook, execute it, and write it beside the source."""
    from nbclient import NotebookClient

    nb = notebook_from_source(source_path)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(source_path.parent)}},
        record_timing=False,
        store_widget_state=False,
    )
    client.execute()
    make_deterministic(nb)
    nbformat.validate(nb)
    target = source_path.with_suffix(".ipynb")
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    os.replace(tmp, target)


def drift(source_path: Path) -> str | None:
    """Why the notebook beside ``source_path`` does not match it, or None when it does."""
    target = source_path.with_suffix(".ipynb")
    if not target.exists():
        return "no .ipynb built yet"
    expected = notebook_from_source(source_path)
    built = nbformat.read(target, as_version=4)
    if built.metadata.get("course", {}).get("nbval", "lax") != expected.metadata["course"]["nbval"]:
        return "nbval mode differs"
    want = [(c.cell_type, c.source) for c in expected.cells]
    have = [(c.cell_type, c.source) for c in built.cells]
    if len(want) != len(have):
        return f"{len(have)} cells in the notebook, {len(want)} in the source"
    for index, (w, h) in enumerate(zip(want, have), start=1):
        if w != h:
            return f"cell {index} differs"
    return None


def find_sources(root: Path = NOTEBOOKS) -> list[Path]:
    """Every percent-format source under ``root`` (a .py with a '# %%' line), sorted."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if any(CELL_MARKER.match(line) for line in text.splitlines()):
            found.append(path)
    return found


def _shown(path: Path) -> str:
    """A path relative to the repository when possible (messages never show absolute paths)."""
    try:
        return path.resolve().relative_to(REPO).as_posix()
    except ValueError:
        return path.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sources", nargs="*", type=Path, help="percent-format .py sources")
    parser.add_argument("--all", action="store_true", help="every source under notebooks/")
    parser.add_argument("--check", action="store_true", help="only check that notebooks match their sources")
    args = parser.parse_args(argv)

    sources = list(args.sources)
    if args.all:
        sources += find_sources()
    if not sources:
        parser.error("name source files or use --all")
    for source in sources:
        if source.suffix != ".py" or not source.is_file():
            parser.error(f"{source} is not a .py source file")

    if args.check:
        drifted = []
        for source in sources:
            try:
                reason = drift(source)
            except SourceError as err:
                reason = str(err)
            if reason:
                drifted.append(f"{_shown(source.with_suffix('.ipynb'))}: {reason}")
        for line in drifted:
            print(f"DRIFT {line}")
        if drifted:
            print(f"{len(drifted)} notebook(s) differ from their source; rebuild with "
                  "`.venv/bin/python scripts/build_notebooks.py <source.py>`.")
            return 1
        print(f"{len(sources)} notebook(s) match their sources.")
        return 0

    os.environ.setdefault("LEARNER", DEFAULT_BUILD_LEARNER)
    if not os.environ["LEARNER"].strip():
        os.environ["LEARNER"] = DEFAULT_BUILD_LEARNER
    failed = []
    for source in sources:
        started = time.monotonic()
        print(f"building {_shown(source.with_suffix('.ipynb'))} (LEARNER={os.environ['LEARNER']}) ...", flush=True)
        try:
            build(source)
        except Exception as err:  # report every notebook, then fail
            failed.append(_shown(source))
            print(f"FAILED {_shown(source)}: {type(err).__name__}: {err}", file=sys.stderr)
            continue
        print(f"  done in {time.monotonic() - started:.1f} s", flush=True)
    if failed:
        print(f"{len(failed)} notebook(s) failed to build (their .ipynb was left as it was): "
              + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
