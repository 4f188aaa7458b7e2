"""Every number quoted in prose (claim spans) equals what a fresh run gives (on the reference path)."""
from __future__ import annotations

import re

import pytest

from utils import claims, reference_path
from utils.train import run_variant


def test_span_parser_reads_run_key_seed_and_format():
    text = 'x <span data-run="broken" data-key="loss_ratio" data-seed="43" data-fmt=".1f">4.4</span>×'
    [c] = claims.claims_in(text, "f.md")
    assert (c.run, c.key, c.seed, c.fmt, c.text) == ("broken", "loss_ratio", 43, ".1f", "4.4")


def test_a_wrong_number_is_caught():
    [c] = claims.claims_in('<span data-run="facts" data-key="n_train">239</span>')
    assert c.expected() == "240" and c.expected() != c.text


def mismatches(found: list[claims.Claim]) -> list[str]:
    return [f"{c.file}: {c.run}.{c.key} says {c.text!r}, the run gives {c.expected()!r}"
            for c in found if c.expected() != c.text]


def test_every_quoted_fact_matches_on_any_machine():
    facts = [c for c in claims.all_claims() if not c.depends_on_path]
    assert len(facts) >= 10
    bad = mismatches(facts)
    assert not bad, "\n".join(bad)


def test_every_quoted_run_number_matches_on_the_reference_path():
    if not reference_path.on_reference_path():
        pytest.skip(reference_path.describe())
    runs = [c for c in claims.all_claims() if c.depends_on_path]
    assert len(runs) >= 100
    bad = mismatches(runs)
    assert not bad, "\n".join(bad)


def test_reference_fingerprint_is_the_final_parameter_crc_of_the_broken_run():
    log = run_variant(reference_path.REFERENCE["variant"], seed=reference_path.REFERENCE["seed"])
    assert reference_path.fingerprint() == log.steps["param_hash"][-1]
    assert re.fullmatch(r"[0-9a-f]{8}", reference_path.REFERENCE["param_hash"])


def test_another_path_is_told_apart_and_explained(monkeypatch):
    monkeypatch.setattr(reference_path, "fingerprint", lambda: "00000000")
    assert not reference_path.on_reference_path()
    note = reference_path.describe()
    assert "00000000" in note and reference_path.REFERENCE["param_hash"] in note and "another" in note
    monkeypatch.setattr(reference_path, "fingerprint", lambda: reference_path.REFERENCE["param_hash"])
    assert reference_path.on_reference_path() and "reference" in reference_path.describe()


def test_fix_is_refused_off_the_reference_path(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(reference_path, "fingerprint", lambda: "00000000")
    page = tmp_path / "page.md"
    page.write_text('<span data-run="broken" data-key="spike_step">1</span>', encoding="utf-8")
    assert claims.main(["--fix", str(page)]) == 2
    assert "refused" in capsys.readouterr().out and ">1</span>" in page.read_text(encoding="utf-8")
