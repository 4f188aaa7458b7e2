"""Numbers quoted in prose, and the check that keeps them true.

A theory text or a notebook's markdown never types a run's number bare. It writes a span:

    <span data-run="facts" data-key="vocab_size">233</span>                      a fact
    <span data-run="broken" data-key="loss_ratio" data-fmt=".1f">3.9–4.6</span>× a measured range
    <span data-run="broken" data-key="grad_norm_ratio" data-bound="min">&gt; 30</span>× one side of it

- ``data-run="facts"``: a deterministic fact of the corpus, tokenizer or model (``facts()``),
  checked exactly.
- any other run: the range the quantity took over seeds 42-46 and every CPU kernel path of the
  measuring machine (``utils/course/ranges.py``, table ``theory/ranges.json``). The span's text must
  be that range, and a fresh run of the default seed on the machine running the check must lie
  inside it. ``data-seed="43"`` narrows a span to one seed (over the kernel paths).
- a quantity too chaotic for a useful range (its top more than ``ranges.CHAOTIC`` × its bottom) quotes
  only the side that carries the text's point: ``data-bound="min"`` shows "> lower bound",
  ``data-bound="max"`` "< upper bound"; the check then holds a fresh run to that side.

Runs are named as in ``utils.spikelab.config`` (variants and failure patterns), ``pattern:<variant>``
(the stability check of a spike variant, ``utils.diagnosis.patterns``), ``rollback-...`` (Phase 20
recovery runs, ``utils.recovery.rollback.RUNS``) and ``calibration`` (``utils.recovery.calibration.facts``).

    python -m utils.claims             # every span: text vs table, and your fresh run vs the range
    python -m utils.claims --measure   # re-measure the table (seeds × kernel paths; trains every quoted run)
    python -m utils.claims --fix       # rewrite the spans' texts from the table (no training)
"""
from __future__ import annotations

import argparse
import html
import json
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from utils.course import ranges
from utils.diagnosis import patterns
from utils.recovery import calibration, rollback
from utils.spikelab import corpus, data_order, symptoms
from utils.spikelab.config import PATTERN_VARIANTS, config_for
from utils.spikelab.model import GPTConfig, MiniGPT
from utils.spikelab.train import run_variant

SPAN = re.compile(r'<span data-run="(?P<run>[^"]+)" data-key="(?P<key>[^"]+)"'
                  r'(?: data-seed="(?P<seed>\d+)")?(?: data-fmt="(?P<fmt>[^"]*)")?(?: data-bound="(?P<bound>min|max)")?'
                  r'>(?P<text>[^<]*)</span>')
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Claim:
    file: str
    run: str
    key: str
    seed: int
    fmt: str
    text: str

    seeded: bool = False          # data-seed given: the range of that one seed
    bound: str = ""               # data-bound "min" / "max": only that side of the range is quoted

    @property
    def is_fact(self) -> bool:
        return self.run == "facts"

    def measured(self, table: dict | None = None) -> list:
        """The table's samples for this span (empty for a fact)."""
        table = ranges.load() if table is None else table
        return ranges.samples(table, self.run, self.key, self.seed if self.seeded else None)

    def expected(self, table: dict | None = None) -> str:
        """What the span must say: the fact, or the measured range."""
        if self.is_fact:
            value = facts()[self.key]
            return format(value, self.fmt) if self.fmt else str(value)
        if self.bound:
            return html.escape(ranges.bound_text(self.measured(table), self.bound), quote=False)
        return ranges.range_text(self.measured(table), self.fmt)

    def fresh(self):
        """This machine's value from a fresh run of the span's seed (42 unless data-seed)."""
        return ranges.quotable(value_of(self.run, self.key, self.seed))

    def fresh_holds(self, table: dict | None = None) -> bool:
        return self.is_fact or ranges.holds(self.fresh(), self.measured(table), self.fmt, self.bound)


@lru_cache(maxsize=1)
def facts() -> dict:
    """Facts of the corpus, tokenizer and model that the texts quote."""
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
        _RESULTS[(run, seed)] = symptoms.compute(run_variant(run, seed=seed))
    return _RESULTS[(run, seed)]


def run_values(run: str, seed: int = 42) -> dict:
    """Every quotable quantity of one named run (see the module docstring for the names)."""
    if run == "facts":
        return facts()
    if run.startswith("rollback-"):          # recovery runs of Phase 20 (utils.recovery.rollback.RUNS)
        return rollback.facts(run, seed)
    if run == "calibration":                 # detector calibration of Phase 20
        return calibration.facts(run, seed)
    if run in PATTERN_VARIANTS or run.startswith("pattern:"):   # Phase 19 failure patterns
        return patterns.pattern_facts(run.removeprefix("pattern:"), seed)
    return results_of(run, seed)


def value_of(run: str, key: str, seed: int = 42):
    return run_values(run, seed)[key]


def claims_in(text: str, file: str = "") -> list[Claim]:
    return [Claim(file, m["run"], m["key"], int(m["seed"] or 42), html.unescape(m["fmt"] or ""), m["text"],
                  seeded=m["seed"] is not None, bound=m["bound"] or "")
            for m in SPAN.finditer(text)]


def prose_files(root: Path = ROOT) -> list[Path]:
    """Markdown under theory/ (the Spanish twins ``*.es.md`` too) and README.md, and every notebook."""
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


def fix_file(path: Path, table: dict | None = None) -> int:
    """Rewrite every span in ``path`` (a .md or a notebook .py source) with the table's ranges."""
    table = ranges.load() if table is None else table
    text = path.read_text(encoding="utf-8")
    changed = 0

    def repl(m: re.Match) -> str:
        nonlocal changed
        c = claims_in(m.group(0))[0]
        new = c.expected(table)
        changed += new != c.text
        return m.group(0).replace(f">{c.text}</span>", f">{new}</span>")
    path.write_text(SPAN.sub(repl, text), encoding="utf-8")
    return changed


def source_files(root: Path = ROOT) -> list[Path]:
    """Files whose spans ``--fix`` rewrites: theory/**.md (twins included), README.md, notebook sources."""
    files = sorted((root / "theory").rglob("*.md")) + [root / "README.md"] + sorted((root / "notebooks").rglob("*.py"))
    return [f for f in files if f.exists() and SPAN.search(f.read_text(encoding="utf-8"))]


def quoted_pairs(claims: list[Claim]) -> list[tuple[str, str, int | None]]:
    """Every (run, key, seed-or-None) that prose quotes from a training run."""
    return sorted({(c.run, c.key, c.seed if c.seeded else None) for c in claims if not c.is_fact},
                  key=lambda t: (t[0], t[1], t[2] or 0))


def worker(seed: int) -> None:
    """``--worker SEED``: read a JSON list of run names on stdin, print {"run|key": value} for every
    quotable quantity of those runs with ``seed``."""
    out = {}
    for run in json.loads(sys.stdin.read()):
        for key, v in run_values(run, seed).items():
            v = ranges.quotable(v)
            if v is not ranges.UNQUOTABLE:
                out[f"{run}|{key}"] = v
    print(json.dumps(out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m utils.claims", description=__doc__.splitlines()[0])
    ap.add_argument("--fix", nargs="*", type=Path, metavar="FILE",
                    help="rewrite spans from the table in these files (default: theory/*.md, README.md, notebook sources)")
    ap.add_argument("--measure", action="store_true", help="re-measure every quoted quantity into theory/ranges.json")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for --measure")
    ap.add_argument("--worker", type=int, metavar="SEED", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker is not None:
        worker(args.worker)
        return 0
    if args.measure:
        table = ranges.measure(quoted_pairs(all_claims() + [c for f in source_files() for c in claims_in(
            f.read_text(encoding="utf-8"), str(f))]), jobs=args.jobs)
        print(f"[ranges] {len(table['samples'])} quantities measured on {table['how']['kernel_paths']} "
              f"× seeds {table['how']['seeds']}: {ranges.TABLE.relative_to(ROOT)}")
        return 0
    if args.fix is not None:
        for f in args.fix or source_files():
            if f.exists() and SPAN.search(f.read_text(encoding="utf-8")):
                print(f"{f.relative_to(ROOT) if f.is_absolute() else f}: {fix_file(f)} updated")
        return 0
    table = ranges.load()
    bad = 0
    for c in all_claims():
        exp = c.expected(table)
        problems = []
        if exp != c.text:
            problems.append(f"text should be {exp!r}")
        mine = "" if c.is_fact else f"; your run: {ranges.range_text([c.fresh()], c.fmt)}"
        if not c.fresh_holds(table):
            problems.append("your run is outside the measured range")
        bad += bool(problems)
        label = "BAD" if problems else "ok "
        print(f"{label} {c.file}: {c.run}.{c.key} says {c.text!r}{mine}{(' — ' + '; '.join(problems)) if problems else ''}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
