"""utils.postmortem (validator, symptom tolerances, markdown round trip), its forms, and saving a
post-mortem with its run log into a learner's notes (utils.course.postmortem_notes).

The numbers here are made up for the tests (synthetic run logs), not the course's run.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from utils import postmortem as pm_mod
from utils.course import notes
from utils.course import postmortem_notes as notes_mod
from utils.course.notes import read_lessons
from utils.course.postmortem_notes import LearnerPostmortems, load_saved, save, save_with_lesson
from utils.postmortem import (
    SECTION_WHY,
    Evidence,
    Expectation,
    Hypothesis,
    PostMortem,
    Symptoms,
    Tolerance,
    Verification,
    compare_symptoms,
    draft_symptoms,
    parse_markdown,
    render_markdown,
    validate,
)
from utils.postmortem import forms
from utils.postmortem.forms import PostMortemWorkbook, symptoms_form
from utils.postmortem.validation import split_sentences
from utils.spikelab import symptoms as symptoms_mod
from utils.spikelab.runlog import RunLog

# A synthetic run log's symptoms, shaped like utils.spikelab.symptoms.compute's output.
RUN_SYMPTOMS = {
    "spike_step": 312,
    "peak_step": 315,
    "pre_spike_ema": 2.412,
    "peak_loss": 3.15,
    "recovery_loss": 2.43,
    "grad_norm_preclip": 14.2,
    "lr_at_spike": 3e-4,
    "dtype": "float32",
    "batch_index": 312,
    "unusual_tokens": ["ß", "ø"],
}


def complete() -> PostMortem:
    """A post-mortem the validator accepts."""
    return PostMortem(
        run_id="a13-spike",
        date="2026-11-23",
        symptoms=Symptoms(spike_step="312", pre_spike_ema="2.41", peak_loss="3.15", recovery_loss="2.43",
                          grad_norm_preclip="14.2", lr_at_spike="3e-4", dtype="float32", batch_index="312",
                          unusual_tokens=["ß", "ø"]),
        hypotheses=[
            Hypothesis(1, "A batch of rare pieces pushed Adam's tiny second moments", [5, 6, 7]),
            Hypothesis(2, "The learning rate schedule jumped", [2]),
            Hypothesis(3, "A non-finite value corrupted the weights", [8]),
        ],
        evidence=[
            Evidence(7, "per-token loss of the rare pieces is 10x the rest", favours=1, rules_out=[2]),
            Evidence(8, "non-finite count stays 0", favours=1, rules_out=[3]),
        ],
        root_cause="Rare pieces at step 312 met near-zero Adam second moments, e.g. for 'ß', so the update was 2.5× too large.",
        remediation="Raise Adam's eps from 1e-8 to 1e-6.",
        verification=Verification(seed=0, tolerance=0.05, step=400,
                                  expectations=[Expectation("peak_loss", "<", "2.6")]),
        lesson="Rare tokens plus tiny Adam moments make a spike; check panel 5 first.",
    )


def synthetic_log(run_id: str = "a13-spike", scale: float = 1.0, n: int = 180) -> RunLog:
    """A small run log shaped like the course's, which utils.spikelab.symptoms.compute reads: a spike at step
    100 (loss 3x its EMA, gradient norm 40x), two pieces no earlier batch held, the held-out loss up
    for 30 steps. `scale` multiplies every loss and gradient norm: the same run as another machine
    gives it (same steps, same batches, other numbers)."""
    loss = [scale * (2.0 + 0.02 * math.sin(s)) for s in range(n)]
    loss[100:103] = [scale * 6.0, scale * 4.5, scale * 3.0]
    grad = [scale * (1.0 + 0.05 * math.cos(s)) for s in range(n)]
    grad[100] = scale * 40.0
    tokens = [[1, 2] for _ in range(n)]
    tokens[100] = [1, 3, 4, 4]
    steps = {"loss": loss, "grad_norm_preclip": grad, "lr": [1e-3] * n, "token_ids": tokens,
             "token_losses": [[1.0] * len(t) for t in tokens], "batch_ids": [[s] for s in range(n)],
             "param_hash": [f"{s:08x}" for s in range(n)]}
    meta = {"run_id": run_id, "variant": "synthetic", "seed": 0, "dtype": "float32",
            "config": {"warmup": 20, "event_step": 100}, "event_step": 100, "event_end": 101,
            "pieces": ["<pad>", "▁the", "▁cat", "ri", "tten"], "headline_piece": "tten",
            "piece_counts": {"1": 500, "2": 300, "3": 9, "4": 3}, "wall_seconds": 1.25}
    held = list(range(0, n, 8))
    heldout = {"step": held, "loss": [scale * (2.1 + 0.01 * math.sin(s) + (0.3 if 100 <= s < 130 else 0))
                                      for s in held]}
    return RunLog(meta=meta, steps=steps, heldout=heldout)


def drafted_from(log: RunLog) -> Symptoms:
    """§1 drafted from a run log and confirmed field by field."""
    s = draft_symptoms(symptoms_mod.compute(log))
    s.confirmed = set(s.drafted)
    return s


def messages(problems, section=None, field=None) -> list[str]:
    return [p.message for p in problems
            if (section is None or p.section == section) and (field is None or p.field == field)]


# --------------------------------------------------------------------------- validator


def test_complete_postmortem_has_no_problems():
    assert validate(complete()) == []


def test_every_empty_section_is_named_with_why_it_exists():
    problems = validate(PostMortem("a13-spike", "2026-11-23"))
    text = [str(p) for p in problems]
    assert "§3 Discriminating evidence is empty: without it the root cause is a guess" in text
    for n, title in pm_mod.SECTION_TITLES.items():
        assert f"§{n} {title} is empty: {SECTION_WHY[n]}" in text
    assert len(problems) == 7  # one per section, nothing else


@pytest.mark.parametrize("field", ["spike_step", "pre_spike_ema", "peak_loss", "grad_norm_preclip",
                                   "lr_at_spike", "batch_index"])
@pytest.mark.parametrize("typed", ["about 3", "3 steps", "~3", "three", "3_15"])
def test_numeric_symptoms_refuse_prose(field, typed):
    pm = complete()
    setattr(pm.symptoms, field, typed)
    found = messages(validate(pm), 1, field)
    assert len(found) == 1 and found[0].startswith("numbers only"), found
    assert repr(typed) in found[0]


@pytest.mark.parametrize("typed, ok", [("312", True), ("312.0", False), ("-1", False), ("", False)])
def test_step_is_a_whole_non_negative_number(typed, ok):
    pm = complete()
    pm.symptoms.spike_step = typed
    assert (messages(validate(pm), 1, "spike_step") == []) is ok


@pytest.mark.parametrize("typed, ok", [("2.43", True), ("did not recover", True), ("NaN", True),
                                       ("nan", True), ("Did not  recover", True), ("recovered", False),
                                       ("about 2.4", False)])
def test_recovery_loss_takes_a_number_or_the_allowed_words(typed, ok):
    pm = complete()
    pm.symptoms.recovery_loss = typed
    assert (messages(validate(pm), 1, "recovery_loss") == []) is ok


@pytest.mark.parametrize("typed, ok", [("float32", True), ("bfloat16", True), ("torch.float16", True),
                                       ("fp8", False), ("half-ish", False)])
def test_dtype_comes_from_the_fixed_list(typed, ok):
    pm = complete()
    pm.symptoms.dtype = typed
    assert (messages(validate(pm), 1, "dtype") == []) is ok


def test_peak_below_baseline_is_refused():
    pm = complete()
    pm.symptoms.peak_loss = "2.0"
    assert any("not above the pre-spike EMA" in m for m in messages(validate(pm), 1, "peak_loss"))


def test_fewer_than_three_hypotheses_is_refused():
    pm = complete()
    pm.hypotheses = pm.hypotheses[:2]
    pm.evidence = [pm.evidence[0]]
    found = messages(validate(pm), 2)
    assert any(m.startswith("only 2 hypotheses") for m in found), found


def test_rank_gap_is_refused():
    pm = complete()
    pm.hypotheses[2].rank = 4
    found = messages(validate(pm), 2, "ranks")
    assert any("missing 3" in m for m in found) and any("4 outside 1..3" in m for m in found), found


def test_duplicate_rank_is_refused():
    pm = complete()
    pm.hypotheses[1].rank = 1
    found = messages(validate(pm), 2, "ranks")
    assert any("rank 1 is used 2 times" in m for m in found), found
    assert any("missing 2" in m for m in found), found


def test_missing_rank_and_text_are_refused():
    pm = complete()
    pm.hypotheses[0].rank = None
    pm.hypotheses[1].text = "  "
    found = validate(pm, sections=[2])
    assert "has no rank" in messages(found, 2, "row 1")
    assert "has no hypothesis text" in messages(found, 2, "row 2")


@pytest.mark.parametrize("panel", [0, 9, -1])
def test_panel_out_of_range_is_refused(panel):
    pm = complete()
    pm.hypotheses[1].panels = [2, panel]
    assert messages(validate(pm), 2, "row 2") == [f"panel {panel} does not exist (the dashboard has panels 1-8)"]
    pm = complete()
    pm.evidence[0].panel = panel
    assert messages(validate(pm), 3, "row 1") == [f"panel {panel} does not exist (the dashboard has panels 1-8)"]


def test_hypothesis_without_panels_is_refused():
    pm = complete()
    pm.hypotheses[2].panels = []
    assert any("cites no dashboard panel" in m for m in messages(validate(pm), 2, "row 3"))


def test_evidence_must_refer_to_existing_ranks_and_discriminate():
    pm = complete()
    pm.evidence[0].favours = 5
    pm.evidence[1].rules_out = []
    found = validate(pm, sections=[3])
    assert "favours rank 5, but no hypothesis has that rank" in messages(found, 3, "row 1")
    assert any(m.startswith("rules nothing out") for m in messages(found, 3, "row 2"))
    assert any("rank(s) 3 never ruled out" in m for m in messages(found, 3, ""))


def test_evidence_ruling_out_rank_one_asks_for_a_re_rank():
    pm = complete()
    pm.evidence[0].favours, pm.evidence[0].rules_out = 2, [1]
    found = messages(validate(pm, sections=[3]), 3)
    assert any("rules out your rank-1 hypothesis" in m for m in found), found


def test_evidence_both_favouring_and_ruling_out_a_rank_is_refused():
    pm = complete()
    pm.evidence[0].rules_out = [1, 2]
    assert "both favours and rules out rank 1" in messages(validate(pm), 3, "row 1")


@pytest.mark.parametrize("text", [
    "Loss rose 2.5× at step 312, e.g. from the rare piece.",
    "Adam's eps of 1e-8 vs. a tiny second moment made the update huge.",
    "The rare piece (i.e. 'ß') had loss 9.81 at step 312",
    "A batch of rare pieces, cf. panel 7, spiked the loss to 3.15!",
    "The update was approx. 40x the usual one, as A. Reader noted.",
])
def test_root_cause_accepts_one_sentence(text):
    assert split_sentences(text) == [" ".join(text.split())]
    pm = complete()
    pm.root_cause = text
    assert validate(pm, sections=[4]) == []


@pytest.mark.parametrize("text, n", [
    ("The lr was fine. The batch was not.", 2),
    ("Rare pieces hit step 312. Adam's v was tiny! Why? Because eps was 1e-8.", 4),
    ("Loss rose 2.5×. then it fell.", 2),
])
def test_root_cause_refuses_several_sentences_and_says_why(text, n):
    pm = complete()
    pm.root_cause = text
    found = messages(validate(pm), 4)
    assert len(found) == 1 and found[0].startswith(f"{n} sentences found: "), found
    assert repr(split_sentences(text)[1]) in found[0]


def test_lesson_is_exactly_one_line():
    pm = complete()
    pm.lesson = "Check panel 5 first.\nAnd panel 7."
    assert messages(validate(pm), 7) == ["2 lines: a lesson is exactly one line"]
    pm.lesson = "Check panel 5 first.\n"
    assert validate(pm, sections=[7]) == []


def test_remediation_must_be_short():
    pm = complete()
    pm.remediation = " ".join(["word"] * 41)
    assert messages(validate(pm), 5) == ["41 words: the smallest change fits in 40 words (one change, not a plan)"]
    pm.remediation = " ".join(["word"] * 40)
    assert validate(pm, sections=[5]) == []


def test_verification_numbers_only_and_after_the_spike():
    pm = complete()
    pm.verification = Verification(seed="zero", tolerance="-0.1", step="300",
                                   expectations=[Expectation("max loss", "≈", "about 2"), Expectation("", "<", "2")])
    found = validate(pm, sections=[6])
    assert "'zero' is not a whole number" in messages(found, 6, "seed")[0]
    assert messages(found, 6, "tolerance") == ["ε = -0.1 must be above 0"]
    assert "not after the spike (step 312)" in messages(found, 6, "step")[0]
    assert "comparator '≈' is not one of < <= > >=" in messages(found, 6, "expectation 1")
    assert "value 'about 2' is not a number: numbers only" in messages(found, 6, "expectation 1")
    assert messages(found, 6, "expectation 2") == ["names no metric"]


# --------------------------------------------------------------------------- the decimal comma


@pytest.mark.parametrize("typed, number", [("2,31", 2.31), ("-0,5", -0.5), (",5", 0.5), ("1,037", 1.037),
                                           ("3,1e-4", 3.1e-4), (" 2,31 ", 2.31)])
def test_a_decimal_comma_is_read_as_a_decimal(typed, number):
    assert pm_mod.parse_number(typed) == pytest.approx(number)
    pm = complete()
    pm.symptoms.peak_loss = typed.replace("-", "")       # a peak above the EMA is not what this tests
    pm.symptoms.pre_spike_ema = "0,1"
    pm.verification.tolerance, pm.verification.expectations[0].value = typed.replace("-", ""), typed
    assert validate(pm, sections=[1, 6]) == []


@pytest.mark.parametrize("typed, says", [
    ("1,234,5", "'1,234,5' has 2 commas: write one decimal separator and no thousands separator (2.31 or 2,31)"),
    ("1.234,5", "'1.234,5' has both '.' and ',': write one decimal separator and no thousands separator "
                "(1234.5 or 1234,5)"),
    ("2,", "the comma in '2,' is not a decimal comma between digits: write 2,31 or 2.31, without spaces"),
])
def test_a_comma_that_may_be_a_thousands_separator_is_refused_by_name(typed, says):
    assert pm_mod.parse_number(typed) is None
    pm = complete()
    pm.symptoms.peak_loss = typed
    pm.verification.tolerance = typed
    found = validate(pm, sections=[1, 6])
    assert messages(found, 1, "peak_loss") == [says]
    assert messages(found, 6, "tolerance") == [f"{says}: numbers only, the tolerance ε"]


@pytest.mark.parametrize("field", ["spike_step", "batch_index"])
def test_a_whole_number_with_a_comma_says_the_comma_is_the_problem(field):
    pm = complete()
    setattr(pm.symptoms, field, "3,12")
    pm.verification.step = "1,000"
    found = validate(pm)
    assert messages(found, 1, field) == ["'3,12' has a comma: a whole number is written without one "
                                         "(312, not 1,312 or 312,0)"]
    assert messages(found, 6, "step")[0].startswith("'1,000' has a comma: a whole number is written without one")


def test_compare_shows_how_a_decimal_comma_was_read():
    checks = compare_symptoms(Symptoms(peak_loss="3,15", pre_spike_ema="2,412", grad_norm_preclip="1,2,3"),
                              RUN_SYMPTOMS)
    assert check_of(checks, "peak_loss").ok
    assert check_of(checks, "peak_loss").message.startswith("peak_loss: you typed 3,15 (read as 3.15), the run "
                                                            "log says 3.15 (off by 0")
    bad = check_of(checks, "grad_norm_preclip")
    assert not bad.ok and bad.message.startswith("grad_norm_preclip: '1,2,3' has 2 commas")


def test_the_form_takes_a_decimal_comma(learners):
    wb = PostMortemWorkbook("a13-spike", reference=RUN_SYMPTOMS, date="2026-11-23")
    wb.fill(complete())
    wb.symptoms.inputs["peak_loss"].value = "3,15"
    assert wb.symptoms.check() == ["✓ §1 Symptoms: nothing to fix"]
    assert "peak_loss: you typed 3,15 (read as 3.15)" in wb.symptoms.compare()[2].message
    wb.hypotheses.rows[0]["rank"].value = "1,0"
    assert wb.hypotheses.check() == ["✗ §2 row 1 rank: '1,0' has a comma: a whole number is written without one "
                                     "(312, not 1,312 or 312,0)"]


# --------------------------------------------------------------------------- §6 against its run


def test_section6_refuses_a_step_past_the_end_of_its_run():
    log = synthetic_log(n=180)
    pm = complete()
    pm.symptoms.spike_step = "100"
    pm.verification.expectations = [Expectation("grad_norm_ratio", "<", "15")]
    pm.verification.step = "181"
    assert messages(validate(pm, sections=[6], run_log=log), 6, "step") == [
        "T = 181 is past the end of the run: its run log has 180 steps, so T is at most 180 (the rerun's "
        "metrics are computed on its first T steps)"]
    pm.verification.step = "180"
    assert validate(pm, sections=[6], run_log=log) == []
    pm.verification.step = "181"
    assert validate(pm, sections=[6]) == []                # no run log: the length is not known


def test_section6_refuses_a_misspelled_metric_naming_the_runs_metrics():
    log = synthetic_log()
    computed = symptoms_mod.compute(log)
    pm = complete()
    pm.symptoms.spike_step = "100"
    pm.verification.step = str(len(log))
    pm.verification.expectations = [Expectation("heldout_rise_sigm", "<", "3"), Expectation("dtype", "<", "1"),
                                    Expectation("heldout_rise_sigma", "<", "3")]
    found = validate(pm, sections=[6], run_log=log)
    (first,) = messages(found, 6, "expectation 1")
    assert first.startswith("no metric 'heldout_rise_sigm' (did you mean 'heldout_rise_sigma'?); the metrics "
                            "are the keys of utils.spikelab.symptoms.compute: ")
    listed = first.split(": ", 1)[1].split(", ")
    numbers = sorted(k for k, v in computed.items() if v is None or isinstance(v, (bool, int, float)))
    assert listed == numbers and "dtype" not in listed and "grad_norm_ratio" in listed
    assert messages(found, 6, "expectation 2") == [
        "'dtype' is not a number in the run (it is 'float32'); the metrics are the keys of "
        "utils.spikelab.symptoms.compute: " + ", ".join(numbers)]
    assert messages(found, 6, "expectation 3") == []
    # the symptoms alone (the form's reference) give the same names; nothing known: not checked
    assert messages(validate(pm, sections=[6], reference=computed), 6, "expectation 1") == [first]
    assert validate(pm, sections=[6]) == []


def test_section6_metric_names_are_utils_symptoms_own_keys(monkeypatch):
    """A metric added to utils.spikelab.symptoms.compute is allowed at once: the names are not copied elsewhere."""
    log = synthetic_log()
    real = symptoms_mod.compute
    monkeypatch.setattr(symptoms_mod, "compute", lambda run_log: dict(real(run_log), new_metric=1.0))
    pm = complete()
    pm.symptoms.spike_step = "100"
    pm.verification.step = str(len(log))
    pm.verification.expectations = [Expectation("new_metric", "<", "2")]
    assert validate(pm, sections=[6], run_log=log) == []


def test_section6_takes_a_recovery_word_metric_of_a_run_that_did_not_recover():
    reference = dict(RUN_SYMPTOMS, recovery_loss="did not recover")
    pm = complete()
    pm.verification.expectations = [Expectation("recovery_loss", "<", "2.5")]
    assert validate(pm, sections=[6], reference=reference) == []


def test_the_workbook_checks_section6_against_its_run_and_offers_its_metrics(learners):
    log = synthetic_log()
    wb = PostMortemWorkbook("a13-spike", run_log=log, date="2026-11-23")
    names = wb.verification.rows[0]["metric"].options
    assert "heldout_rise_sigma" in names and "dtype" not in names
    wb.fill(complete())
    wb.symptoms.draft()
    wb.verification.rows[0]["metric"].value = "grad_norm_ration"
    wb.verification.step.value = "999"
    found = wb.verification.check()
    assert found[0] == (f"✗ §6 step: T = 999 is past the end of the run: its run log has {len(log)} steps, so T is "
                        f"at most {len(log)} (the rerun's metrics are computed on its first T steps)")
    assert found[1].startswith("✗ §6 expectation 1: no metric 'grad_norm_ration' (did you mean 'grad_norm_ratio'?)")
    assert len(found) == 2
    assert [str(p) for p in wb.problems() if p.section == 6] == [m[2:] for m in found]
    wb.verification.add_row()["metric"].value = "loss_ratio"          # a row added later offers the names too
    assert wb.verification.rows[-1]["metric"].options == names


def test_header_needs_a_file_safe_run_id_and_an_iso_date():
    pm = complete()
    pm.run_id, pm.date = "../x", "23/11/2026"
    assert [p.field for p in validate(pm)] == ["run_id", "date"]
    pm.run_id, pm.date = "a13.v2", "2026-11-23"  # utils.course.notes keeps old versions under such names
    assert [p.field for p in validate(pm)] == ["run_id"]
    pm.run_id = "19-spike-001.v"
    assert validate(pm) == []


# --------------------------------------------------------------------------- a spike that does not recover


def nan_log_of(n: int = 180, first_bad: int = 150) -> RunLog:
    """The synthetic run, diverged: one update at `first_bad` writes NaN into the parameters (panel 8)
    and the loss is NaN from then on, to the last step."""
    log = synthetic_log(n=n)
    log.steps["loss"][first_bad:] = [math.nan] * (n - first_bad)
    log.steps["grad_norm_preclip"][first_bad:] = [math.nan] * (n - first_bad)
    log.steps["nonfinite_params"] = [0] * first_bad + [4096] * (n - first_bad)
    return log


def nan_postmortem(n: int = 180) -> PostMortem:
    """A post-mortem of `nan_log_of()` that follows the template's rules for a spike that does not recover."""
    pm = complete()
    pm.symptoms = Symptoms(spike_step="150", pre_spike_ema="2.0", peak_loss="NaN", recovery_loss="did not recover",
                           grad_norm_preclip="NaN", lr_at_spike="1e-3", dtype="float32", batch_index="150")
    pm.hypotheses[2] = Hypothesis(3, "A destructive update wrote a NaN into the parameters", [8])
    pm.remediation = "Roll back to the last NaN-free checkpoint and subtract the row maximum in the softmax."
    pm.verification = Verification(seed=0, tolerance=0.05, step=n, expectations=[Expectation("loss_ratio", "<", "1.5")])
    return pm


NAN_RULE_SECTIONS = [1, 2, 5]


def test_a_nan_postmortem_that_follows_the_rules_has_no_problems():
    log = nan_log_of()
    assert validate(nan_postmortem(), run_log=log) == []
    assert validate(nan_postmortem()) == []                    # decided from §1 without the run log


@pytest.mark.parametrize("typed", ["2.43", "0,98", "inf", "run too short"])
def test_section1_of_a_run_that_did_not_recover_ends_did_not_recover(typed):
    pm = nan_postmortem()
    pm.symptoms.recovery_loss = typed
    found = validate(pm, sections=[1], run_log=nan_log_of())
    assert [(p.section, p.field) for p in found] == [(1, "recovery_loss")]
    assert "did not recover" in found[0].message and "'NaN'" in found[0].message
    assert "non-finite" in found[0].message                       # says why: the run log ends non-finite


@pytest.mark.parametrize("typed", ["did not recover", "NaN", "nan", "Did not  recover"])
def test_section1_takes_the_no_recovery_words(typed):
    pm = nan_postmortem()
    pm.symptoms.recovery_loss = typed
    assert validate(pm, sections=[1], run_log=nan_log_of()) == []


def test_section1_prose_is_refused_once_as_not_a_number():
    pm = nan_postmortem()
    pm.symptoms.recovery_loss = "never"
    found = validate(pm, sections=[1], run_log=nan_log_of())
    assert len(found) == 1 and found[0].message.startswith("numbers only or the words 'did not recover' / 'NaN'")


@pytest.mark.parametrize("text", [
    "A destructive update wrote a NaN into the parameters",
    "The optimizer step put NaNs in the weights",
    "One update left a non-finite weight",
    "Una actualización destructiva escribió un NaN en un parámetro",
    "La actualización dejó NaN en los pesos",
    "Un paso dejó parametros no finitos",
])
def test_section2_accepts_the_nan_in_a_parameter_hypothesis_in_english_and_spanish(text):
    pm = nan_postmortem()
    pm.hypotheses[2] = Hypothesis(3, text, [8])
    assert validate(pm, sections=[2], run_log=nan_log_of()) == []


@pytest.mark.parametrize("text", [
    "The learning rate jumped",                       # neither word
    "A NaN appeared in the loss",                     # NaN, but not in a parameter
    "An update damaged the weights",                  # a parameter, but no NaN
    "The nanoscale weights drifted",                  # 'nano' is not NaN
    "Los pesos crecieron demasiado",                  # Spanish, no NaN
])
def test_section2_without_the_nan_in_a_parameter_hypothesis_is_refused_and_says_what_is_accepted(text):
    pm = nan_postmortem()
    pm.hypotheses[2] = Hypothesis(3, text, [8])
    found = validate(pm, sections=[2], run_log=nan_log_of())
    assert [(p.section, p.field) for p in found] == [(2, "")]
    message = found[0].message
    assert message.startswith("no hypothesis says that a destructive update wrote a NaN into a parameter")
    assert all(word in message for word in ["'NaN'", "'parameter'", "'weight'", "'parámetro'", "'peso'"])


@pytest.mark.parametrize("text", [
    "Roll back to the last NaN-free checkpoint and fix the softmax.",
    "Revert to the checkpoint of step 100, then subtract the row maximum.",
    "Restore the last finite checkpoint and use the stable softmax.",
    "Reload the checkpoint saved before step 130 with the fixed attention.",
    "Rolled-back to the previous check-point with max-subtraction.",
    "Volver al último punto de control sin NaN y restar el máximo.",
    "Restaurar el checkpoint del paso 100 y corregir la softmax.",
])
def test_section5_accepts_a_revert_to_a_checkpoint_in_english_and_spanish(text):
    pm = nan_postmortem()
    pm.remediation = text
    assert validate(pm, sections=[5], run_log=nan_log_of()) == []


@pytest.mark.parametrize("text", [
    "Subtract the row maximum in the attention softmax.",   # the fix alone: the weights still hold NaN
    "Save a checkpoint every 25 steps.",                     # a checkpoint, but no going back to it
    "Roll back the learning rate to 3e-4.",                  # going back, but not to a checkpoint
    "Guardar un punto de control cada 25 pasos.",            # Spanish, no going back
])
def test_section5_without_a_revert_to_a_checkpoint_is_refused_and_says_what_is_accepted(text):
    pm = nan_postmortem()
    pm.remediation = text
    found = validate(pm, sections=[5], run_log=nan_log_of())
    assert [(p.section, p.field) for p in found] == [(5, "")]
    message = found[0].message
    assert message.startswith("does not revert to the last NaN-free checkpoint")
    assert all(word in message for word in ["'checkpoint'", "'punto de control'", "'roll back'", "'volver'"])


def test_each_nan_rule_is_reported_with_the_other_problems_in_section_order():
    pm = nan_postmortem()
    pm.symptoms.recovery_loss = "2.1"
    pm.hypotheses[2] = Hypothesis(3, "The loss overflowed", [])
    pm.remediation = "Lower the learning rate. " + "word " * 40
    found = validate(pm, run_log=nan_log_of())
    assert [(p.section, p.field) for p in found] == [(1, "recovery_loss"), (2, "row 3"), (2, ""), (5, ""), (5, "")]
    assert found[3].message.endswith("(one change, not a plan)")


def test_without_a_run_log_section1_decides_whether_the_run_recovered():
    pm = nan_postmortem()
    pm.hypotheses[2] = Hypothesis(3, "The loss overflowed", [8])
    pm.remediation = "Subtract the row maximum in the softmax."
    for words in ["did not recover", "NaN"]:
        pm.symptoms.recovery_loss = words
        found = validate(pm)
        assert [p.section for p in found] == [2, 5]
        assert f"§1 says its recovery loss is '{words}'" in found[0].message
    pm.symptoms.recovery_loss = "2.43"
    assert validate(pm) == []


def test_a_recovered_run_does_not_get_the_nan_rules():
    pm = complete()
    pm.hypotheses[2] = Hypothesis(3, "The lr schedule restarted", [2])     # no NaN hypothesis
    assert "checkpoint" not in pm.remediation
    pm.symptoms.spike_step = "100"
    pm.verification.step = "180"
    assert validate(pm, run_log=synthetic_log()) == []
    # the run log decides when it is given: a finite run does not get them even if §1 says otherwise
    pm.symptoms.recovery_loss = "did not recover"
    assert validate(pm, sections=NAN_RULE_SECTIONS, run_log=synthetic_log()) == []
    assert [p.section for p in validate(pm, sections=NAN_RULE_SECTIONS)] == [2, 5]


def test_a_run_log_ending_with_nan_parameters_but_a_finite_loss_did_not_recover():
    log = synthetic_log()
    log.steps["nonfinite_params"] = [0] * 170 + [12] * 10         # panel 8: NaN weights at the end
    pm = nan_postmortem()
    pm.remediation = "Lower the learning rate."
    assert [p.section for p in validate(pm, sections=NAN_RULE_SECTIONS, run_log=log)] == [5]
    log.steps["nonfinite_params"] = [0] * 180
    assert validate(pm, sections=NAN_RULE_SECTIONS, run_log=log) == []


def test_empty_sections_of_a_nan_run_are_named_once_as_empty():
    pm = nan_postmortem()
    pm.hypotheses, pm.evidence, pm.remediation = [], [], ""
    pm.symptoms.recovery_loss = ""
    found = validate(pm, sections=NAN_RULE_SECTIONS, run_log=nan_log_of())
    assert [(p.section, p.field) for p in found] == [(1, "recovery_loss"), (2, ""), (5, "")]
    assert found[0].message.startswith("empty") and "is empty" in found[1].message and "is empty" in found[2].message


# --------------------------------------------------------------------------- symptoms vs the run log


def typed(**changes) -> Symptoms:
    s = complete().symptoms
    for k, v in changes.items():
        setattr(s, k, v)
    return s


def check_of(checks, field):
    (found,) = [c for c in checks if c.field == field]
    return found


def test_typed_symptoms_within_tolerance_are_ok():
    checks = compare_symptoms(typed(spike_step="313", peak_loss="3.1", lr_at_spike="3.02e-4",
                                    grad_norm_preclip="15"), RUN_SYMPTOMS)
    assert [c.field for c in checks] == list(pm_mod.SYMPTOM_FIELDS)
    assert all(c.ok for c in checks), [c.message for c in checks if not c.ok]


def test_typed_symptom_outside_tolerance_says_which_field_and_by_how_much():
    c = check_of(compare_symptoms(typed(peak_loss="2.1"), RUN_SYMPTOMS), "peak_loss")
    assert not c.ok
    assert c.message.startswith("peak_loss: you typed 2.1, the run log says 3.15 (off by 1.05, 33 %; tolerance 5 %)")
    assert c.off_abs == pytest.approx(1.05) and c.off_rel == pytest.approx(1.05 / 3.15)


@pytest.mark.parametrize("field, inside, outside", [
    ("spike_step", "311", "310"),
    ("batch_index", "312", "313"),
    ("pre_spike_ema", "2.5", "2.6"),
    ("grad_norm_preclip", "15.5", "16"),
    ("lr_at_spike", "3.02e-4", "3.05e-4"),
])
def test_stated_default_tolerances(field, inside, outside):
    assert check_of(compare_symptoms(typed(**{field: inside}), RUN_SYMPTOMS), field).ok
    c = check_of(compare_symptoms(typed(**{field: outside}), RUN_SYMPTOMS), field)
    assert not c.ok and c.message.startswith(f"{field}: you typed {outside},")


def test_typing_the_peak_step_as_the_spike_step_gets_a_hint():
    c = check_of(compare_symptoms(typed(spike_step="315"), RUN_SYMPTOMS), "spike_step")
    assert not c.ok and c.off_abs == 3
    assert "315 is the step of the peak; the spike began earlier" in c.message


def test_tolerances_can_be_overridden():
    s = typed(peak_loss="3.4")
    assert not check_of(compare_symptoms(s, RUN_SYMPTOMS), "peak_loss").ok
    assert check_of(compare_symptoms(s, RUN_SYMPTOMS, {"peak_loss": 0.1}), "peak_loss").ok
    assert check_of(compare_symptoms(s, RUN_SYMPTOMS, {"peak_loss": Tolerance("abs", 0.3)}), "peak_loss").ok
    with pytest.raises(ValueError, match="no symptom field"):
        compare_symptoms(s, RUN_SYMPTOMS, {"loss": 0.1})


def test_prose_dtype_tokens_and_recovery_words_against_the_run_log():
    checks = compare_symptoms(typed(grad_norm_preclip="about 14", dtype="bfloat16", unusual_tokens=["ß", "x"],
                                    recovery_loss="did not recover"), RUN_SYMPTOMS)
    assert "you typed 'about 14', which is not a number" in check_of(checks, "grad_norm_preclip").message
    assert not check_of(checks, "dtype").ok
    tokens = check_of(checks, "unusual_tokens")
    assert not tokens.ok and "missing 'ø'" in tokens.message and "not in the log 'x'" in tokens.message
    assert not check_of(checks, "recovery_loss").ok
    ref = dict(RUN_SYMPTOMS, recovery_loss="did not recover", dtype="torch.float32")
    checks = compare_symptoms(typed(recovery_loss="did not recover"), ref)
    assert check_of(checks, "recovery_loss").ok and check_of(checks, "dtype").ok
    nan_ref = dict(RUN_SYMPTOMS, peak_loss=math.nan)
    assert check_of(compare_symptoms(typed(peak_loss="NaN"), nan_ref), "peak_loss").ok
    assert not check_of(compare_symptoms(typed(peak_loss="3.15"), nan_ref), "peak_loss").ok


def test_a_run_log_without_a_spike_skips_the_step_checks():
    ref = dict(RUN_SYMPTOMS, spike_step=None)
    assert "spike_step" not in [c.field for c in compare_symptoms(typed(), ref)]
    assert "spike_step" not in draft_symptoms(ref).drafted


def test_check_symptoms_reports_each_field_that_differs_from_the_run_log():
    s = draft_symptoms(RUN_SYMPTOMS)
    report = pm_mod.check_symptoms(s, RUN_SYMPTOMS)
    assert report.ok and report.wrong == [] and report.summary() == "9 symptoms within tolerance"
    s.grad_norm_preclip, s.spike_step = "95", "328"
    report = pm_mod.check_symptoms(s, RUN_SYMPTOMS)
    assert not report.ok and [c.field for c in report.checks if not c.ok] == ["spike_step", "grad_norm_preclip"]
    assert report.summary() == "; ".join(report.wrong)
    assert report.summary().startswith("spike_step: you typed 328, the run log says 312 (off by 16")


def test_drafted_symptoms_are_reported_until_confirmed():
    s = draft_symptoms(RUN_SYMPTOMS)
    assert s.drafted == set(pm_mod.SYMPTOM_FIELDS) and s.confirmed == set()
    assert s.spike_step == "312" and s.lr_at_spike == "0.0003" and s.unusual_tokens == ["ß", "ø"]
    assert all(c.ok for c in compare_symptoms(s, RUN_SYMPTOMS))
    pm = complete()
    pm.symptoms = s
    found = validate(pm, sections=[1])
    assert {p.field for p in found} == set(pm_mod.SYMPTOM_FIELDS)
    assert all(p.message.startswith("drafted from the run log, not yet confirmed") for p in found)
    s.confirmed = set(pm_mod.SYMPTOM_FIELDS) - {"peak_loss"}
    assert [p.field for p in validate(pm, sections=[1])] == ["peak_loss"]
    s.confirmed.add("peak_loss")
    assert validate(pm, sections=[1]) == []


# --------------------------------------------------------------------------- markdown


def tricky() -> PostMortem:
    pm = complete()
    pm.run_id = "a13_spike-2.v"
    pm.symptoms = draft_symptoms(RUN_SYMPTOMS)
    pm.symptoms.confirmed = {"spike_step", "dtype"}
    pm.symptoms.peak_loss = " about | 3 "
    pm.symptoms.unusual_tokens = [" the", "a|b", "é\\", '"q"', "ß\n", "\u2028"]
    pm.hypotheses = [
        Hypothesis(1, "Adam's v ≈ 0 | huge update \\ no", [5, 7]),
        Hypothesis(None, '"quoted" start', []),
        Hypothesis(-2, "  padded  ", [9, 0]),
        Hypothesis(3, "", [1]),
    ]
    pm.evidence = [Evidence(None, "", None, []), Evidence(7, "a\\|b | c", 1, [2, 3]), Evidence(12, "# not a heading", -1, [1])]
    pm.root_cause = "Two lines\n## 5. Remediation\nthat look like headings."
    pm.remediation = '"quoted"'
    pm.verification = Verification(seed="", tolerance=" 0.05", step="step 400",
                                   expectations=[Expectation("loss | max", "<=", "2.5"), Expectation("", "≈", "")])
    pm.lesson = "  \t"
    return pm


@pytest.mark.parametrize("make", [complete, tricky, lambda: PostMortem("a13", "2026-11-23"),
                                  lambda: PostMortem(' — "odd" id', "date — with — dashes —"),
                                  lambda: PostMortem("x", "", root_cause="multi\n\nparagraph\nroot cause")])
def test_render_parse_round_trip_is_exact(make):
    pm = make()
    text = render_markdown(pm)
    back = parse_markdown(text)
    assert back == pm
    assert render_markdown(back) == text


def test_render_format():
    text = render_markdown(complete())
    lines = text.split("\n")
    assert lines[0] == "# Loss spike post-mortem — 2026-11-23 — a13-spike"
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == ["## 1. Symptoms", "## 2. Hypotheses (ranked)", "## 3. Discriminating evidence",
                        "## 4. Root cause", "## 5. Remediation", "## 6. Verification", "## 7. Lesson"]
    assert "| spike_step | 312 | typed |" in lines
    assert "| unusual_tokens | [\"ß\", \"ø\"] | typed |" in lines
    assert "| 1 | A batch of rare pieces pushed Adam's tiny second moments | 5, 6, 7 |" in lines
    assert "| 7 | per-token loss of the rare pieces is 10x the rest | 1 | 2 |" in lines
    assert "- Seed: 0" in lines and "- Tolerance ε: 0.05" in lines and "- Step T: 400" in lines
    assert "| peak_loss | < | 2.6 |" in lines
    assert lines[lines.index("## 7. Lesson") + 2] == complete().lesson
    assert "\\|" in render_markdown(tricky())  # pipes in text are escaped inside tables


def test_parse_refuses_text_that_is_not_a_postmortem():
    with pytest.raises(ValueError, match="first line"):
        parse_markdown("# Notes\n")
    broken = render_markdown(complete()).replace("## 4. Root cause\n", "")
    with pytest.raises(ValueError, match="Root cause"):
        parse_markdown(broken)


# --------------------------------------------------------------------------- saving


def test_save_writes_the_course_path_and_loads_back(learners):
    pm = tricky()
    path = save(pm)
    assert path == learners / "ana" / "phase-19" / "notes" / "postmortems" / f"{pm.run_id}.md"
    assert path.read_text(encoding="utf-8") == render_markdown(pm)
    assert load_saved(pm.run_id) == pm
    assert load_saved("other-run") is None
    assert load_saved(pm.run_id, learner="bo") is None


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_lock_file_a_save_leaves_is_not_tracked_by_git(learners):
    path = save(complete())
    lock = path.parent / notes.LOCK_FILE
    assert lock.is_file()                                   # every save leaves the lock beside the notes
    repo = Path(__file__).resolve().parent.parent
    inside = f"learners/example-complete/phase-19/notes/postmortems/{notes.LOCK_FILE}"
    ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", inside], cwd=repo)
    assert ignored.returncode == 0, f"{inside} is not in .gitignore"
    tracked = subprocess.run(["git", "ls-files", "--cached", f"*{notes.LOCK_FILE}"], cwd=repo,
                             capture_output=True, text=True, check=True).stdout.split()
    assert tracked == []


def test_second_save_keeps_the_first(learners):
    first, second = complete(), complete()
    second.lesson = "A different lesson."
    save(first)
    path = save(second)
    assert load_saved("a13-spike") == second
    folder = path.parent
    kept = [p for p in folder.iterdir() if p != path and p.is_file() and p.suffix == ".md"]
    assert [parse_markdown(p.read_text(encoding="utf-8")) for p in kept] == [first]


def test_save_refuses_a_run_id_that_is_not_a_file_name(learners):
    pm = complete()
    pm.run_id = "../escape"
    with pytest.raises(ValueError, match="cannot name a file"):
        save(pm)
    assert not learners.exists() or not any(p.is_file() for p in learners.rglob("*"))


def test_save_with_lesson_appends_the_lesson_line(learners):
    path, line = save_with_lesson(complete())
    assert path.is_file()
    assert line.endswith(" · run a13-spike · " + complete().lesson)
    assert read_lessons(19) == [line]
    bad = complete()
    bad.run_id, bad.lesson = "b-run", "two\nlines"
    with pytest.raises(ValueError, match="exactly one line"):
        save_with_lesson(bad)
    assert load_saved("b-run") is None and read_lessons(19) == [line]


# --------------------------------------------------------------------------- the run log saved with §1


def test_run_logs_round_trip_plain_and_compressed(tmp_path):
    log = synthetic_log()
    log.steps["token_losses"][5] = [math.nan, 1.0]
    for name in ("r.json", "r.json.gz"):
        back = RunLog.load(log.save(tmp_path / name))
        assert back.to_bytes() == log.to_bytes() and math.isnan(back.steps["token_losses"][5][0])
    assert (tmp_path / "r.json").read_bytes() == log.to_bytes()          # plain JSON, as before
    assert (tmp_path / "r.json.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert log.to_bytes(compressed=True) == log.to_bytes(compressed=True)  # no time in the gzip header
    assert len(log.to_bytes(compressed=True)) * 3 < len(log.to_bytes())
    (tmp_path / "cut.json.gz").write_bytes(log.to_bytes(compressed=True)[:100])
    with pytest.raises(ValueError, match="cannot read run log"):
        RunLog.load(tmp_path / "cut.json.gz")


def test_a_large_run_log_is_saved_compressed_beside_the_notes_never_overwritten(learners, monkeypatch):
    monkeypatch.setattr(notes_mod, "RUN_LOG_GZIP_ABOVE", 1000)
    log = synthetic_log()
    path = notes_mod.save_run_log(log)
    assert path == learners / "ana" / "phase-19" / "notes" / "run-logs" / "a13-spike.json.gz"
    assert path.read_bytes()[:2] == b"\x1f\x8b" and notes_mod.saved_run_log_path("a13-spike") == path
    back = notes_mod.load_saved_run_log("a13-spike")
    assert "wall_seconds" not in back.meta and pm_mod.same_run_log(back, log)
    assert symptoms_mod.compute(back) == symptoms_mod.compute(log)
    retrained = synthetic_log()
    retrained.meta["wall_seconds"] = 9.5                 # the same run trained again: nothing changes
    assert notes_mod.save_run_log(retrained) == path and notes_mod.run_log_versions("a13-spike") == []
    other = synthetic_log(scale=1.2)                     # another run: the first one is kept aside
    assert notes_mod.save_run_log(other) == path
    assert [p.name for p in notes_mod.run_log_versions("a13-spike")] == ["a13-spike.json.v1.gz"]
    assert pm_mod.same_run_log(notes_mod.load_saved_run_log("a13-spike"), other)
    assert pm_mod.same_run_log(RunLog.load(notes_mod.run_log_versions("a13-spike")[0]), log)
    assert not [p for p in learners.rglob("*") if p.name.endswith(".tmp")]
    assert notes_mod.load_saved_run_log("other-run") is None


def test_a_small_run_log_is_saved_as_plain_json_and_keeps_that_form(learners, monkeypatch):
    log = synthetic_log()
    assert len(log.to_bytes()) < notes_mod.RUN_LOG_GZIP_ABOVE
    path = notes_mod.save_run_log(log)
    assert path == learners / "ana" / "phase-19" / "notes" / "run-logs" / "a13-spike.json"
    assert json.loads(path.read_text(encoding="utf-8"))["meta"]["run_id"] == "a13-spike"
    monkeypatch.setattr(notes_mod, "RUN_LOG_GZIP_ABOVE", 1000)
    assert notes_mod.save_run_log(synthetic_log(scale=1.2)) == path   # a run keeps the form of its first save
    assert [p.name for p in notes_mod.run_log_versions("a13-spike")] == ["a13-spike.v1.json"]
    (path.parent / "a13-spike.json.gz").write_bytes(log.to_bytes(compressed=True))
    with pytest.raises(ValueError, match="two run logs are saved for a13-spike"):
        notes_mod.load_saved_run_log("a13-spike")


def test_saving_with_a_run_log_keeps_section1_and_its_run_together(learners):
    log = synthetic_log()
    pm = complete()
    pm.symptoms = drafted_from(log)
    path, _ = save_with_lesson(pm, run_log=log)
    saved = notes_mod.load_saved_run_log(pm.run_id)
    report = pm_mod.check_symptoms(load_saved(pm.run_id).symptoms, symptoms_mod.compute(saved))
    assert report.ok and report.summary() == "9 symptoms within tolerance"
    # a run log of another run is refused before anything is saved
    other = complete()
    other.run_id = "b-run"
    with pytest.raises(ValueError, match="the run log is of run 'a13-spike', the post-mortem of run 'b-run'"):
        save(other, run_log=log)
    other.lesson = "two\nlines"
    with pytest.raises(ValueError, match="exactly one line"):
        save_with_lesson(other, run_log=synthetic_log("b-run"))
    assert load_saved("b-run") is None and notes_mod.saved_run_log_path("b-run") is None
    assert len(read_lessons(19)) == 1


# --------------------------------------------------------------------------- forms


def fill_widgets(wb, pm: PostMortem) -> None:
    """Type `pm` into the workbook's widgets, as a learner would (never through .fill())."""
    s = pm.symptoms
    for name in pm_mod.SYMPTOM_FIELDS:
        wb.symptoms.inputs[name].value = list(s.unusual_tokens) if name == "unusual_tokens" else getattr(s, name)
    while len(wb.hypotheses.rows) < len(pm.hypotheses):
        wb.hypotheses.add_button.click()
    for row, h in zip(wb.hypotheses.rows, pm.hypotheses):
        row["rank"].value, row["text"].value = str(h.rank), h.text
        row["panels"].value = ", ".join(str(p) for p in h.panels)
    for row, e in zip(wb.evidence.rows, pm.evidence):
        row["panel"].value, row["observation"].value = e.panel, e.observation
        row["favours"].value, row["rules_out"].value = str(e.favours), " ".join(str(r) for r in e.rules_out)
    wb.root_cause.text.value = pm.root_cause
    wb.remediation.text.value = pm.remediation
    v = pm.verification
    wb.verification.seed.value, wb.verification.tolerance.value, wb.verification.step.value = v.seed, v.tolerance, v.step
    for row, e in zip(wb.verification.rows, v.expectations):
        row["metric"].value, row["comparator"].value, row["value"].value = e.metric, e.comparator, e.value
    wb.lesson.text.value = pm.lesson


def test_workbook_collects_what_was_typed(learners):
    expected = complete()
    expected.hypotheses.append(Hypothesis(4, "A data-order bug repeated a batch", [6]))
    expected.evidence.append(Evidence(6, "batch ids are all distinct", favours=1, rules_out=[4]))
    wb = PostMortemWorkbook("a13-spike", reference=RUN_SYMPTOMS, date="2026-11-23")
    fill_widgets(wb, expected)
    assert wb.to_postmortem() == expected
    assert wb.problems() == []
    for form in wb.forms.values():
        form.check_button.click()
        assert form.messages == [f"✓ §{form.section} {pm_mod.SECTION_TITLES[form.section]}: nothing to fix"]


def test_workbook_check_buttons_show_the_validator(learners):
    wb = PostMortemWorkbook("a13-spike", date="2026-11-23")
    wb.hypotheses.check_button.click()
    assert wb.hypotheses.messages == [f"✗ §2 Hypotheses is empty: {SECTION_WHY[2]}"]
    assert "Hypotheses is empty" in wb.hypotheses.output.outputs[0]["text"]
    wb.hypotheses.rows[0]["text"].value = "lr too high"
    wb.hypotheses.rows[0]["panels"].value = "2, 9"
    wb.hypotheses.rows[1]["text"].value = "rare batch"
    wb.hypotheses.rows[1]["panels"].value = "7"
    messages_ = wb.hypotheses.check()
    assert "✗ §2 only 2 hypotheses: rank at least 3, or the first idea wins by default" in messages_
    assert "✗ §2 row 1: panel 9 does not exist (the dashboard has panels 1-8)" in messages_
    # the evidence form sees the hypotheses' ranks through the workbook
    wb.evidence.rows[0]["panel"].value = 2
    wb.evidence.rows[0]["observation"].value = "lr flat"
    wb.evidence.rows[0]["favours"].value = "5"
    wb.evidence.rows[0]["rules_out"].value = "1"
    assert "✗ §3 row 1: favours rank 5, but no hypothesis has that rank" in wb.evidence.check()
    # a panel box holding prose is named, and stops collecting
    wb.hypotheses.rows[1]["panels"].value = "seven"
    assert wb.hypotheses.check() == ["✗ §2 row 2 panels: 'seven' is not a whole number; write numbers like 3, 5"]
    with pytest.raises(ValueError, match="row 2 panels"):
        wb.to_postmortem()
    # the other sections still check, and say what they could not check against
    assert wb.evidence.check() == [
        "✓ §3 Discriminating evidence: nothing to fix",
        "! not checked against §2, which cannot be read: §2 row 2 panels: 'seven' is not a whole number; "
        "write numbers like 3, 5",
    ]


def test_symptoms_form_draft_confirm_and_compare():
    assert symptoms_form().draft_button.disabled
    form = symptoms_form(RUN_SYMPTOMS)
    assert all(box.disabled for box in form.confirms.values())
    form.draft_button.click()
    assert form.inputs["peak_loss"].value == "3.15" and form.inputs["unusual_tokens"].value == ["ß", "ø"]
    assert not any(box.disabled or box.value for box in form.confirms.values())
    assert form.collect() == draft_symptoms(RUN_SYMPTOMS)
    assert len(form.check()) == len(pm_mod.SYMPTOM_FIELDS)
    assert all("not yet confirmed" in m for m in form.messages)
    for box in form.confirms.values():
        box.value = True
    assert form.check() == ["✓ §1 Symptoms: nothing to fix"]
    form.inputs["peak_loss"].value = "2.1"
    form.compare_button.click()
    assert ("✗ peak_loss: you typed 2.1, the run log says 3.15 (off by 1.05, 33 %; tolerance 5 %) — not ok"
            in form.messages)
    assert sum(m.startswith("✓") for m in form.messages) == len(pm_mod.SYMPTOM_FIELDS) - 1


def test_workbook_load_restores_the_saved_answers(learners):
    wb = PostMortemWorkbook("a13-spike", reference=RUN_SYMPTOMS, date="2026-11-23", notes=LearnerPostmortems())
    assert wb.load() is None and wb.messages == ["no saved post-mortem for a13-spike yet"]
    expected = complete()
    expected.symptoms = draft_symptoms(RUN_SYMPTOMS)
    expected.symptoms.confirmed = {"spike_step", "peak_loss"}
    expected.evidence[1].panel = 11  # not a dashboard panel: kept, so the validator can say so
    expected.hypotheses.append(Hypothesis(4, "fourth", [1]))
    expected.verification.expectations.append(Expectation("grad norm", ">=", "0"))
    fill_widgets(wb, complete())
    wb.fill(expected)
    path = wb.save()
    assert wb.messages[0].startswith("saved learners/ana/phase-19/notes/postmortems/a13-spike.md")

    reopened = PostMortemWorkbook("a13-spike", reference=RUN_SYMPTOMS, date="2030-01-01", notes=LearnerPostmortems())
    assert reopened.load() == expected
    assert reopened.to_postmortem() == expected
    assert reopened.symptoms.inputs["peak_loss"].value == "3.15"
    assert reopened.symptoms.confirms["peak_loss"].value and not reopened.symptoms.confirms["dtype"].value
    assert reopened.hypotheses.rows[3]["text"].value == "fourth"
    assert reopened.evidence.rows[1]["panel"].value == 11
    assert reopened.lesson.text.value == expected.lesson
    assert reopened.date == "2026-11-23"
    assert path.read_text(encoding="utf-8") == render_markdown(expected)


def test_workbook_saves_its_run_log_with_the_post_mortem(learners):
    log = synthetic_log()
    with pytest.raises(ValueError, match="not both"):
        PostMortemWorkbook("a13-spike", reference=RUN_SYMPTOMS, run_log=log, notes=LearnerPostmortems())
    with pytest.raises(ValueError, match="of run 'a13-spike', this post-mortem of run 'b-run'"):
        PostMortemWorkbook("b-run", run_log=log, notes=LearnerPostmortems())
    wb = PostMortemWorkbook("a13-spike", run_log=log, date="2026-11-23", notes=LearnerPostmortems())
    assert wb.reference == symptoms_mod.compute(log) and not wb.symptoms.draft_button.disabled
    wb.fill(complete())
    wb.symptoms.draft()
    for box in wb.symptoms.confirms.values():
        box.value = True
    assert all(c.ok for c in wb.symptoms.compare())
    wb.verification.step.value = str(len(log))       # T at the end of this run (complete() has 400)
    wb.save()
    assert wb.messages == ["saved learners/ana/phase-19/notes/postmortems/a13-spike.md (complete)",
                           "run log: learners/ana/phase-19/notes/run-logs/a13-spike.json"]
    assert pm_mod.same_run_log(notes_mod.load_saved_run_log("a13-spike"), log)
    wb.use_run_log(synthetic_log(scale=1.2))          # §1 started over from another run, saved with it
    wb.symptoms.draft()
    wb.save_with_lesson()
    assert wb.messages[2] == ("run log: learners/ana/phase-19/notes/run-logs/a13-spike.json (kept the earlier one "
                              "as learners/ana/phase-19/notes/run-logs/a13-spike.v1.json)")


def test_a_reopened_workbook_reads_section1_from_the_run_log_saved_with_it(learners):
    """§1 written from one machine's run, reopened where the notebook's run has other numbers."""
    mine = synthetic_log()
    wb = PostMortemWorkbook("a13-spike", run_log=mine, date="2026-11-23", notes=LearnerPostmortems())
    wb.fill(complete())
    wb.symptoms.draft()
    wb.save()
    here = synthetic_log(scale=1.2)
    reopened = PostMortemWorkbook("a13-spike", run_log=here, notes=LearnerPostmortems())
    assert reopened.load() == wb.to_postmortem()
    assert reopened.messages[1] == ("its run log: learners/ana/phase-19/notes/run-logs/a13-spike.json (another run "
                                    "than this notebook's, e.g. from another machine: §1 is read from the saved one; "
                                    "use_run_log(log) starts over from this notebook's run)")
    assert pm_mod.same_run_log(reopened.run_log, mine) and reopened.reference == symptoms_mod.compute(mine)
    assert all(c.ok for c in reopened.symptoms.compare())
    reopened.save()                                   # §1 stays with its own run: nothing changes
    assert notes_mod.run_log_versions("a13-spike") == [] and notes_mod.kept_versions("a13-spike") == []
    reopened.use_run_log(here)                        # starting §1 over from this notebook's run
    assert [c.field for c in reopened.symptoms.compare() if not c.ok] == [
        "pre_spike_ema", "peak_loss", "recovery_loss", "grad_norm_preclip"]
    same = PostMortemWorkbook("a13-spike", run_log=synthetic_log(), notes=LearnerPostmortems())
    same.load()
    assert same.messages[1].endswith("(the same run as this notebook's)")
    save(PostMortem("c-run", "2026-11-23"))            # a post-mortem saved without a run log
    nothing = PostMortemWorkbook("c-run", run_log=synthetic_log("c-run"), notes=LearnerPostmortems())
    nothing.load()
    assert nothing.messages == ["loaded postmortems/c-run.md",
                                "no run log saved with it yet: Save saves this notebook's run beside it"]
    assert pm_mod.same_run_log(nothing.run_log, synthetic_log("c-run"))


def test_workbook_save_with_lesson_button(learners):
    wb = PostMortemWorkbook("a13-spike", date="2026-11-23", notes=LearnerPostmortems())
    wb.lesson.text.value = "Look at panel 5 before touching the lr."
    wb.lesson_button.click()
    assert read_lessons(19)[0].endswith("· run a13-spike · Look at panel 5 before touching the lr.")
    wb.lesson.text.value = ""
    wb.lesson_button.click()  # refused, shown, nothing raised
    assert wb.messages[0].startswith("✗ §7 Lesson is empty") and len(read_lessons(19)) == 1


def test_each_section_form_works_alone():
    pm = complete()
    built = {1: forms.symptoms_form(), 2: forms.hypotheses_form(), 3: forms.evidence_form(),
             4: forms.root_cause_form(), 5: forms.remediation_form(), 6: forms.verification_form(),
             7: forms.lesson_form()}
    for n, form in built.items():
        form.take(copy.deepcopy(pm))
        out = PostMortem(pm.run_id, pm.date)
        form.put(out)
        assert out == PostMortem(pm.run_id, pm.date, **{k: getattr(pm, k) for k in [
            None, "symptoms", "hypotheses", "evidence", "root_cause", "remediation", "verification", "lesson"][n:n + 1]})
        assert form.check() == [f"✓ §{n} {pm_mod.SECTION_TITLES[n]}: nothing to fix"], (n, form.messages)


def test_forms_display_with_a_stable_plain_text():
    wb = PostMortemWorkbook("a13-spike", date="2026-11-23")
    bundle = wb._repr_mimebundle_()
    assert bundle["text/plain"] == "Post-mortem workbook for a13-spike"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert wb.evidence._repr_mimebundle_()["text/plain"] == "§3 Discriminating evidence form"


def test_a_workbook_without_notes_checks_but_does_not_save(learners):
    """Where to save is given to the workbook (content never reaches into a learner's folder itself)."""
    wb = PostMortemWorkbook("a13-spike", reference=RUN_SYMPTOMS, date="2026-11-23")
    wb.fill(complete())
    assert wb.problems() == [] and wb.symptoms.check() == ["✓ §1 Symptoms: nothing to fix"]
    assert wb.save_button not in [w for box in wb.widget.children if hasattr(box, "children") for w in box.children]
    with pytest.raises(ValueError, match="no notes folder"):
        wb.save()
    wb.load_button.click()                                  # refused, shown, nothing raised
    assert wb.messages[0].startswith("✗ this workbook has no notes folder")
    assert not learners.exists() or not any(p.is_file() for p in learners.rglob("*"))
    saving = PostMortemWorkbook("a13-spike", date="2026-11-23", notes=LearnerPostmortems())
    assert saving.save_button in [w for box in saving.widget.children if hasattr(box, "children")
                                  for w in box.children]


def test_learner_postmortems_keeps_each_learners_post_mortems_apart(learners):
    log = synthetic_log()
    pm = complete()
    pm.symptoms = drafted_from(log)
    bo = LearnerPostmortems("bo")
    path = bo.save(pm, run_log=log)
    assert path == learners / "bo" / "phase-19" / "notes" / "postmortems" / "a13-spike.md"
    assert bo.load_saved("a13-spike") == pm and LearnerPostmortems().load_saved("a13-spike") is None
    assert bo.saved_run_log_path("a13-spike") == notes_mod.saved_run_log_path("a13-spike", learner="bo")
    assert bo.display_path(path) == "learners/bo/phase-19/notes/postmortems/a13-spike.md"
    _, line = bo.save_with_lesson(pm, run_log=log)
    assert bo.lessons() == [line] and read_lessons(19, learner="ana") == []
    assert bo.kept_versions("a13-spike") == [] and bo.run_log_versions("a13-spike") == []


def test_the_package_exports_the_post_mortem_without_widgets_or_the_courses_tooling():
    """``from utils import postmortem`` is what a learner reads; it needs neither ipywidgets nor utils.course."""
    code = ("import sys; from utils import postmortem; "
            "assert all(hasattr(postmortem, n) for n in postmortem.__all__); "
            "print(sorted(m for m in sys.modules if m == 'ipywidgets' or m.startswith('utils.course')))")
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for name in ("PostMortem", "validate", "render_markdown", "parse_markdown", "check_symptoms", "draft_symptoms",
                 "SECTION_HEADINGS", "PANELS", "run_log_file", "same_run_log"):
        assert name in pm_mod.__all__, name


def test_round_trip_and_validate_survive_random_text():
    """Seeded fuzz: any text in any field survives render -> parse, and validate never crashes."""
    import random

    alphabet = list('ab |\\"#—-\n\r\t \u2028\x85ß€`*_[](),.:') + ["## 4. Root cause", "- Seed:", " — ", "|---|"]
    rng = random.Random(19)

    def text(n=8):
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))

    def ints():
        return [rng.randint(-3, 12) for _ in range(rng.randint(0, 3))]

    def maybe_int():
        return rng.choice([None, rng.randint(-3, 12)])

    for _ in range(300):
        symptoms = Symptoms(**{f: text() for f in pm_mod.SYMPTOM_FIELDS[:-1]},
                            unusual_tokens=[text() for _ in range(rng.randint(0, 3))],
                            drafted=set(rng.sample(pm_mod.SYMPTOM_FIELDS, rng.randint(0, 9))),
                            confirmed=set(rng.sample(pm_mod.SYMPTOM_FIELDS, rng.randint(0, 9))))
        pm = PostMortem(text(), text(), symptoms,
                        [Hypothesis(maybe_int(), text(), ints()) for _ in range(rng.randint(0, 4))],
                        [Evidence(maybe_int(), text(), maybe_int(), ints()) for _ in range(rng.randint(0, 4))],
                        text(20), text(20),
                        Verification(text(), text(), text(),
                                     [Expectation(text(), text(3), text()) for _ in range(rng.randint(0, 3))]),
                        text(20))
        assert parse_markdown(render_markdown(pm)) == pm
        assert all(isinstance(p, pm_mod.Problem) for p in validate(pm))
