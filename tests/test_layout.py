"""The package's house rules (README, "How the code is laid out"), checked on the source:

- content (spikelab, diagnosis, postmortem, recovery) never imports the course's tooling (course);
- layers only import downwards: spikelab <- diagnosis <- postmortem, recovery <- course;
- no import cycle between modules, counting imports inside functions too;
- imports of the package's own modules sit at the top of the file, not inside functions;
- no module is longer than about 400 lines.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

UTILS = Path(__file__).resolve().parent.parent / "utils"
CONTENT = ["spikelab", "diagnosis", "postmortem", "recovery"]   # (utils/text, the language, sits below all)
TOOLING = ["course"]
# which layers each layer may import (itself included)
ALLOWED = {
    "text": {"text"},       # the learner's language: every layer may use it, it uses none
    "spikelab": {"text", "spikelab"},
    "diagnosis": {"text", "spikelab", "diagnosis"},
    "postmortem": {"text", "spikelab", "diagnosis", "postmortem"},
    "recovery": {"text", "spikelab", "diagnosis", "recovery"},
    "course": {"text", "spikelab", "diagnosis", "postmortem", "recovery", "course"},
    "entry": {"text", "spikelab", "diagnosis", "postmortem", "recovery", "course"},
}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(UTILS.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(UTILS.rglob("*.py"))}


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else "entry"


def imports(path: Path, known: set[str]) -> list[tuple[str, bool, int]]:
    """(imported utils module, at top level?, line) for every import of the package in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t.startswith("utils.") and t != here:
                found.append((t, id(node) in top, node.lineno))
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: {t for t, _, _ in imports(path, known)} for name, path in mods.items()}


def test_content_never_imports_tooling_and_layers_point_down():
    mods = modules()
    wrong = []
    for name, path in mods.items():
        for target, _, line in imports(path, set(mods)):
            if layer(target) == "entry" and target != "utils":
                wrong.append(f"{name}:{line} imports the entry point {target}")
            elif layer(target) not in ALLOWED[layer(name)]:
                wrong.append(f"{name}:{line} ({layer(name)}) imports {target} ({layer(target)})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    g = graph()
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(g):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_package_imports_at_the_top():
    mods = modules()
    inside = [f"{name}:{line} imports {target} inside a function"
              for name, path in mods.items() for target, top, line in imports(path, set(mods)) if not top]
    assert not inside, "\n".join(inside)


def test_modules_are_short():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_checks_can_fail(tmp_path):
    """The cycle finder and the import reader see what they should (a test that cannot fail is no test)."""
    known = {"utils.spikelab.a", "utils.course.b"}
    pkg = tmp_path / "utils" / "spikelab"
    pkg.mkdir(parents=True)
    src = pkg / "a.py"
    src.write_text("def f():\n    from utils.course import b\n")
    global UTILS
    saved, UTILS = UTILS, tmp_path / "utils"
    try:
        assert imports(src, known) == [("utils.course.b", False, 2)]
    finally:
        UTILS = saved
    assert layer("utils.course.b") == "course" and "course" not in ALLOWED["spikelab"]


@pytest.mark.parametrize("entry", ["spike", "detectors", "grading", "claims", "corpus", "learner_copies",
                                   "stability_check", "run_cache"])
def test_entry_points_stay(entry):
    """``python -m utils.<entry>`` names that learners and the issues use keep working."""
    text = (UTILS / f"{entry}.py").read_text(encoding="utf-8")
    assert "import main" in text and '__name__ == "__main__"' in text
