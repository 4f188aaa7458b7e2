"""Numbers quoted in prose (claim spans, utils/course/claims.py) against facts and measured ranges.

A fact span (``data-run="facts"``) must equal the fact. Any other span must show the range its
quantity took in the measured table (theory/ranges.json, utils/course/ranges.py), and a fresh run of the
default seed on the machine running the suite must lie inside that range.
"""
from __future__ import annotations

import math

import pytest

from utils.course import claims, ranges


# ------------------------------------------------------------------ the span parser
def test_span_parser_reads_run_key_seed_format_and_text():
    text = ('x <span data-run="broken" data-key="loss_ratio" data-seed="43" data-fmt=".1f">3.9–4.6</span>× '
            'and <span data-run="facts" data-key="vocab_size">233</span> pieces')
    seeded, fact = claims.claims_in(text, "f.md")
    assert (seeded.file, seeded.run, seeded.key, seeded.seed, seeded.fmt, seeded.text) == (
        "f.md", "broken", "loss_ratio", 43, ".1f", "3.9–4.6")
    assert seeded.seeded and not seeded.is_fact
    assert (fact.run, fact.key, fact.seed, fact.fmt, fact.text) == ("facts", "vocab_size", 42, "", "233")
    assert fact.is_fact and not fact.seeded, "no data-seed: the default seed, over every seed's range"


def test_span_parser_unescapes_the_format_and_ignores_other_markup():
    [c] = claims.claims_in('<span data-run="nan" data-key="grad_ratio" data-fmt="&#46;2e">1.00e+01</span>'
                           '<span class="x">12</span>')
    assert c.fmt == ".2e" and c.text == "1.00e+01"


def test_a_seeded_span_reads_only_its_seeds_samples():
    table = {"samples": {"broken|loss_ratio": {"42/avx2": 4.0, "42/default": 4.1, "43/avx2": 5.0,
                                               "43/default": 5.5}}}
    [any_seed, seed_43] = claims.claims_in(
        '<span data-run="broken" data-key="loss_ratio" data-fmt=".1f">x</span>'
        '<span data-run="broken" data-key="loss_ratio" data-seed="43" data-fmt=".1f">y</span>')
    assert sorted(any_seed.measured(table)) == [4.0, 4.1, 5.0, 5.5] and any_seed.expected(table) == "3.4–6.4"
    assert sorted(seed_43.measured(table)) == [5.0, 5.5] and seed_43.expected(table) == "4.8–5.8"


# ------------------------------------------------------------------ wrong texts are caught
def test_a_wrong_fact_is_caught():
    [c] = claims.claims_in('<span data-run="facts" data-key="n_train">239</span>')
    assert c.expected() == "240" != c.text
    assert c.fresh_holds({"how": {}, "samples": {}}), "a fact needs no run and no table"


def test_a_wrong_range_is_caught_and_fix_rewrites_it(tmp_path):
    table = {"samples": {"broken|grad_norm_ratio": {"42/default": 33.96, "43/default": 61.2}}}
    page = tmp_path / "page.md"
    page.write_text('a <span data-run="broken" data-key="grad_norm_ratio" data-fmt=".0f">149</span>× spike, '
                    '<span data-run="facts" data-key="n_train">240</span> sentences\n', encoding="utf-8")
    [c, fact] = claims.claims_in(page.read_text(encoding="utf-8"))
    assert c.expected(table) == "25–82" != c.text
    assert claims.fix_file(page, table) == 1
    assert page.read_text(encoding="utf-8") == (
        'a <span data-run="broken" data-key="grad_norm_ratio" data-fmt=".0f">25–82</span>× spike, '
        '<span data-run="facts" data-key="n_train">240</span> sentences\n')
    assert claims.fix_file(page, table) == 0, "a second fix changes nothing"


def test_every_quoted_fact_matches():
    facts = [c for c in claims.all_claims() if c.is_fact]
    assert len(facts) >= 10
    assert {c.key for c in facts} <= set(claims.facts()), "a span quotes a fact that does not exist"
    bad = [f"{c.file}: facts.{c.key} says {c.text!r}, the fact is {c.expected()!r}"
           for c in facts if c.expected() != c.text]
    assert not bad, "\n".join(bad)


def test_facts_are_the_corpus_tokenizer_and_model():
    f = claims.facts()
    assert (f["n_train"], f["n_extra_rare"], f["n_heldout"]) == (240, 15, 200)
    assert (f["vocab_size"], f["n_merges"], f["n_params"]) == (233, 206, 456448)
    assert (f["headline_piece"], f["headline_count_base"], f["headline_count_shard"]) == ("tten", 5, 20)
    assert (f["written_pieces"], f["bitten_pieces"], f["rare_pieces"]) == ("▁w ri tten", "▁bi tten", "▁bi ri ▁w tten")


# ------------------------------------------------------------------ ranges.range_text / ranges.holds
@pytest.mark.parametrize("values, fmt, text", [
    ([3.94, 4.61, 4.2], ".1f", "3.6–5.0"),           # widened by half the spread (as a ratio) each side
    ([4.41, 4.42, 4.40], ".1f", "4.4"),              # every bound rounds alike: one number
    ([312, 312, 312], "", "312"),                    # samples that agree are not widened
    ([327, 312], "", "304–335"),                     # integers: half the spread, rounded up, each side
    ([0.00291, 0.0031], ".2e", "2.82e-03–3.20e-03"),
    ([33.96, 61.2], ".0f", "25–82"),
    ([4.449, 4.45], ".1f", "4.4–4.5"),               # rounding decides: 4.4485 → 4.4, 4.4505 → 4.5
    ([-1.0, 3.0], ".1f", "-3.0–5.0"),                # a sign change: widened linearly
    ([0.0, 4.0], ".1f", "0.0–6.0"),                  # never below 0 when no sample is
    (["positive", "negative", "positive"], "", "negative or positive"),
    ([True, True], "", "True"),                      # booleans are categories, not numbers
    ([True, False], "", "False or True"),
    ([1.5, None], ".1f", "1.5 or None"),             # a missing value makes the quantity categorical
    ([math.inf, 2.0], "", "2 or inf"),              # no format: floats with 3 significant digits
    ([0.4647, 0.4647], "", "0.465"),
    ([], ".1f", "(not measured)"),
])
def test_range_text(values, fmt, text):
    assert ranges.range_text(values, fmt) == text


def test_holds_for_numbers_inside_and_at_the_rounded_endpoints():
    values = [3.94, 4.61, 4.2]                        # bounds 3.642–4.987, shown as "3.6–5.0"
    assert ranges.holds(4.0, values, ".1f") and ranges.holds(3.7, values, ".1f") and ranges.holds(4.9, values)
    assert ranges.holds(3.62, values, ".1f"), "3.62 shows as 3.6, the range's lower end"
    assert ranges.holds(5.04, values, ".1f"), "5.04 shows as 5.0, the range's upper end"
    assert not ranges.holds(3.54, values, ".1f") and not ranges.holds(5.06, values, ".1f")
    assert not ranges.holds(3.62, values, ".2f"), "at 2 decimals 3.62 is below 3.64"
    assert not ranges.holds(3.63, values), "no format: 3 significant digits, 3.63 < 3.64"


def test_holds_for_a_single_value_and_for_categories():
    assert ranges.holds(312, [312, 312]) and not ranges.holds(313, [312, 312])
    assert ranges.holds(1.04, [1.0], ".1f") and not ranges.holds(1.06, [1.0], ".1f")
    assert ranges.holds("negative", ["positive", "negative"]) and not ranges.holds("both", ["positive", "negative"])
    assert ranges.holds(False, [True, False]) and not ranges.holds(False, [True, True])
    assert not ranges.holds(1, [True]), "1 is not True"
    assert ranges.holds(None, [None, 2.0]) and not ranges.holds(2.5, [None, 2.0], ".1f")
    assert ranges.holds(math.nan, [math.nan]) and not ranges.holds(1.0, [math.nan])
    assert not ranges.holds(4.2, []), "a quantity never measured holds nothing"


def test_bounds_widen_the_measured_range_by_half_its_spread():
    assert ranges.bounds([10.0, 40.0]) == (5.0, 80.0), "ratio 4: half of it (×2) each side"
    assert ranges.bounds([312, 312]) == (312, 312)
    assert ranges.bounds([0.6, 1.0]) == (0.6 / (1 / 0.6) ** 0.5, 1.0), "a recall or share never passes 1"
    assert ranges.bounds([3, 8]) == (0, 11) and ranges.bounds([-3, 1]) == (-5, 3)
    assert all(isinstance(b, int) for b in ranges.bounds([300, 327])), "steps stay whole numbers"
    assert ranges.bounds(["a", "b"]) is None and ranges.bounds([1.0, None]) is None


def test_a_one_sided_span_shows_and_holds_only_its_side():
    values = [79.0, 504.0]                       # widened: 31.3-1274, too wide to quote both ends
    assert ranges.too_chaotic(values) and not ranges.too_chaotic([3.94, 4.61])
    assert ranges.bound_text(values, "min") == "> 31" and ranges.bound_text(values, "max") == "< 1300"
    assert ranges.holds(35.0, values, side="min") and not ranges.holds(30.0, values, side="min")
    assert ranges.holds(2000.0, values, side="min"), "a lower bound says nothing about the top"
    assert ranges.holds(12.0, [1.6, 6.8], side="max") and not ranges.holds(20.0, [1.6, 6.8], side="max")
    assert ranges.bound_text([0.0063, 0.0352], "max") == "< 0.084"
    span = '<span data-run="broken" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 31</span>'
    (c,) = claims.claims_in(span)
    assert c.bound == "min" and c.text == "&gt; 31"


def test_samples_and_spread():
    table = {"samples": {"r|k": {"43/avx2": 2.0, "42/avx2": 1.0, "42/default": 3.0}}}
    assert ranges.samples(table, "r", "k") == [1.0, 3.0, 2.0]
    assert ranges.samples(table, "r", "k", 42) == [1.0, 3.0] and ranges.samples(table, "r", "k", 44) == []
    assert ranges.samples(table, "r", "other") == []
    assert ranges.spread([1.0, 3.0, 2.0]) == 3.0
    assert ranges.spread(["a", "b"]) is None and ranges.spread([0.0, 1.0]) is None


def test_load_without_a_table_is_empty(tmp_path):
    assert ranges.load(tmp_path / "none.json") == {"how": {}, "samples": {}}


# ------------------------------------------------------------------ the prose against the table
@pytest.fixture(scope="module")
def table() -> dict:
    if not ranges.TABLE.exists():
        pytest.fail(f"{ranges.TABLE.relative_to(claims.ROOT)} is missing: run python -m utils.claims --measure, "
                    "then python -m utils.claims --fix")
    return ranges.load()


def run_spans() -> list[claims.Claim]:
    """Every span on a training run: in the texts learners read and in the notebook sources."""
    found = claims.all_claims() + [c for f in claims.source_files() if f.suffix == ".py"
                                   for c in claims.claims_in(f.read_text(encoding="utf-8"),
                                                             str(f.relative_to(claims.ROOT)))]
    return [c for c in found if not c.is_fact]


def test_the_table_says_how_it_was_measured(table):
    how = table["how"]
    assert set(how["seeds"]) >= {42, 43, 44, 45, 46} and "default" in how["kernel_paths"]
    assert how["threads"] == 1 and how["command"] == "python -m utils.claims --measure"


def test_every_quoted_quantity_was_measured_on_every_seed_and_kernel_path(table):
    how = table["how"]
    per_seed = len(how["kernel_paths"])
    missing = []
    for run, key, seed in claims.quoted_pairs(run_spans()):
        found = ranges.samples(table, run, key, seed)
        wanted = per_seed * (1 if seed is not None else len(how["seeds"]))
        if len(found) != wanted:
            missing.append(f"{run}|{key}" + (f" seed {seed}" if seed else "") + f": {len(found)} of {wanted} samples")
    assert not missing, "re-measure (python -m utils.claims --measure):\n" + "\n".join(missing)


def test_every_quoted_range_is_the_tables(table):
    spans = run_spans()
    assert len(spans) >= 100
    bad = [f"{c.file}: {c.run}.{c.key} says {c.text!r}, the table gives {c.expected(table)!r}"
           for c in spans if c.expected(table) != c.text]
    assert not bad, "run python -m utils.claims --fix:\n" + "\n".join(bad)


def test_no_span_quotes_both_ends_of_a_range_too_wide_to_mean_anything(table):
    """A quantity whose widened range spans more than CHAOTIC × quotes the side the text relies on."""
    wide = [f"{c.file}: {c.run}.{c.key} shows {c.text!r}; add data-bound=\"min\" or \"max\""
            for c in run_spans() if not c.bound and ranges.too_chaotic(c.measured(table))]
    assert not wide, "\n".join(wide)


def test_a_fresh_run_on_this_machine_lies_in_every_quoted_range(table):
    """The default seed (or the span's data-seed), trained here, against the measured ranges."""
    seen: set[tuple] = set()
    bad = []
    for c in run_spans():
        what = (c.run, c.key, c.seed if c.seeded else None, c.fmt, c.bound)
        if what in seen:
            continue
        seen.add(what)
        try:
            ok = c.fresh_holds(table)
        except Exception as error:        # a run or key the code no longer produces
            bad.append(f"{c.file}: {c.run}.{c.key} (seed {c.seed}): {type(error).__name__}: {error}")
            continue
        if not ok:
            bad.append(f"{c.file}: {c.run}.{c.key} (seed {c.seed}): this machine gives "
                       f"{ranges.range_text([c.fresh()], c.fmt)} ({c.fresh()!r}), "
                       f"the measured range is {c.expected(table)!r}")
    assert not bad, f"{len(bad)} quoted quantities outside their range on this machine:\n" + "\n".join(bad)
