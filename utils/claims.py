"""Numbers quoted in prose, checked against real runs.

A theory text or a notebook's markdown never types a run's number bare. It writes

    <span data-run="broken" data-key="loss_ratio" data-fmt=".1f">4.4</span>×

and ``tests/test_claims.py`` re-runs the variant (seed 42 unless ``data-seed``), formats
the value with ``data-fmt`` and fails if the text says anything else. A run's number is the
value of the course's reference run (``utils/reference_path.py``): it is checked exactly on a
machine on the reference floating-point path; on another path the same code gives another
sample of the same chaos, so there only the facts (no training involved) are checked, and the
conclusions are left to the behaviour tests. ``data-run="facts"``
refers to facts of the corpus, tokenizer and model (see ``facts()``); ``data-run="rollback-..."``
to a recovery run of Phase 20 (``utils.rollback.RUNS`` and ``utils.rollback.facts``), and
``data-run="calibration"`` to the detector calibration (``utils.calibration.facts``).

    python -m utils.claims            # list every claim and whether it holds
    python -m utils.claims --fix      # rewrite the spans with the fresh values (reference path only)
"""
from __future__ import annotations

import argparse
import html
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SPAN = re.compile(r'<span data-run="(?P<run>[^"]+)" data-key="(?P<key>[^"]+)"'
                  r'(?: data-seed="(?P<seed>\d+)")?(?: data-fmt="(?P<fmt>[^"]*)")?>(?P<text>[^<]*)</span>')
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Claim:
    file: str
    run: str
    key: str
    seed: int
    fmt: str
    text: str

    def expected(self) -> str:
        value = value_of(self.run, self.key, self.seed)
        return format(value, self.fmt) if self.fmt else str(value)

    @property
    def depends_on_path(self) -> bool:
        """True for a number produced by training (it differs between floating-point paths)."""
        return self.run != "facts"


@lru_cache(maxsize=1)
def facts() -> dict:
    """Facts of the corpus, tokenizer and model that the texts quote."""
    from . import corpus, data_order
    from .config import config_for
    from .model import GPTConfig, MiniGPT
    tok = data_order.tokenizer()
    head = data_order.headline_piece(tok)
    base = tok.piece_counts(corpus.base_train())
    shard = data_order.piece_counts(data_order.examples_for(config_for("broken")))
    model = MiniGPT(GPTConfig(vocab_size=len(tok.vocab)))
    return {
        "n_train": len(corpus.base_train()), "n_extra_rare": len(corpus.extra_rare()),
        "n_heldout": len(corpus.heldout()), "vocab_size": len(tok.vocab), "n_merges": len(tok.merges),
        "headline_piece": head, "headline_count_base": base[head],
        "headline_count_shard": shard[tok.vocab[head]],
        "written_pieces": " ".join(tok.split_word("written")),
        "bitten_pieces": " ".join(tok.split_word("bitten")),
        "rare_pieces": " ".join(data_order.rare_pieces(tok)), "n_params": model.num_params(),
    }


_RESULTS: dict[tuple[str, int], dict] = {}


def results_of(run: str, seed: int = 42) -> dict:
    """Symptoms of a fresh run of a variant (computed once per process)."""
    if (run, seed) not in _RESULTS:
        from . import symptoms
        from .train import run_variant
        _RESULTS[(run, seed)] = symptoms.compute(run_variant(run, seed=seed))
    return _RESULTS[(run, seed)]


def value_of(run: str, key: str, seed: int = 42):
    if run == "facts":
        return facts()[key]
    if run.startswith("rollback-"):          # recovery runs of Phase 20 (utils.rollback.RUNS)
        from . import rollback
        return rollback.facts(run, seed)[key]
    if run == "calibration":                 # detector calibration of Phase 20
        from . import calibration
        return calibration.facts(run, seed)[key]
    from .config import PATTERN_VARIANTS
    if run in PATTERN_VARIANTS or run.startswith("pattern:"):   # Phase 19 failure patterns
        from . import patterns
        return patterns.pattern_facts(run.removeprefix("pattern:"), seed)[key]
    return results_of(run, seed)[key]


def claims_in(text: str, file: str = "") -> list[Claim]:
    return [Claim(file, m["run"], m["key"], int(m["seed"] or 42), html.unescape(m["fmt"] or ""), m["text"])
            for m in SPAN.finditer(text)]


def prose_files(root: Path = ROOT) -> list[Path]:
    """Markdown under theory/ and README.md, and every notebook under notebooks/."""
    files = sorted((root / "theory").rglob("*.md")) + [root / "README.md"]
    files += sorted(p for p in (root / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    return [f for f in files if f.exists()]


def text_of(path: Path) -> str:
    """Markdown text of a file (for a notebook: its markdown cells joined)."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


def all_claims(root: Path = ROOT) -> list[Claim]:
    return [c for f in prose_files(root) for c in claims_in(text_of(f), str(f.relative_to(root)))]


def fix_file(path: Path) -> int:
    """Rewrite every span in ``path`` (a .md or a notebook .py source) with fresh values."""
    text = path.read_text(encoding="utf-8")
    changed = 0
    def repl(m: re.Match) -> str:
        nonlocal changed
        c = claims_in(m.group(0))[0]
        new = c.expected()
        changed += new != c.text
        return m.group(0).replace(f">{c.text}</span>", f">{new}</span>")
    path.write_text(SPAN.sub(repl, text), encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m utils.claims", description=__doc__.splitlines()[0])
    ap.add_argument("--fix", nargs="*", type=Path, metavar="FILE",
                    help="rewrite spans in these files (default: theory/*.md, README.md, notebooks/**/*.py)")
    args = ap.parse_args(argv)
    from . import reference_path
    on_path = reference_path.on_reference_path()
    print(reference_path.describe())
    if args.fix is not None and not on_path:
        print("--fix refused: the texts quote the reference path's numbers, and this machine is not on it. "
              "To move the reference, re-measure everything on one machine and update utils/reference_path.py.")
        return 2
    if args.fix is not None:
        files = args.fix or (sorted((ROOT / "theory").rglob("*.md")) + [ROOT / "README.md"]
                             + sorted((ROOT / "notebooks").rglob("*.py")))
        for f in files:
            if f.exists() and SPAN.search(f.read_text(encoding="utf-8")):
                print(f"{f.relative_to(ROOT) if f.is_absolute() else f}: {fix_file(f)} updated")
        return 0
    bad = 0
    for c in all_claims():
        exp = c.expected()
        if exp == c.text:
            label = "ok "
        elif c.depends_on_path and not on_path:
            label = "~  "            # another path: a different sample, not an error
        else:
            label, bad = "BAD", bad + 1
        print(f"{label} {c.file}: {c.run}.{c.key} says {c.text!r}, run gives {exp!r}")
    if not on_path:
        print("~ = a number of the reference run; your run on this path gives another one (not checked here)")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
