"""Every number quoted in prose (claim spans) equals what a fresh run gives."""
from __future__ import annotations

from utils import claims


def test_span_parser_reads_run_key_seed_and_format():
    text = 'x <span data-run="broken" data-key="loss_ratio" data-seed="43" data-fmt=".1f">4.4</span>×'
    [c] = claims.claims_in(text, "f.md")
    assert (c.run, c.key, c.seed, c.fmt, c.text) == ("broken", "loss_ratio", 43, ".1f", "4.4")


def test_a_wrong_number_is_caught():
    [c] = claims.claims_in('<span data-run="facts" data-key="n_train">239</span>')
    assert c.expected() == "240" and c.expected() != c.text


def test_every_quoted_number_matches_the_runs():
    found = claims.all_claims()
    bad = [f"{c.file}: {c.run}.{c.key} says {c.text!r}, the run gives {c.expected()!r}"
           for c in found if c.expected() != c.text]
    assert not bad, "\n".join(bad)
