"""The phase-19 post-mortem notebooks, the worked example they write, and utils.postmortem.verification.

The worked example (learners/example-complete, written by running 04-post-mortem.ipynb) must
parse, validate and match the run log saved with it (on any machine: it is that run's numbers),
and its §6 must pin the course's remediation claims on fresh runs of this machine: the fix
(control-mixed-shard) passes every expectation, the broken run fails every one, clip-0.5 fails
the damage and the gradient rows; stratified-covering passes the other rows and, on the held-out
row, passes or fails from run to run (its rise is near the 3 σ noise bar), always at most half of
broken's.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from utils import postmortem
from utils.course import postmortem_notes
from utils.course.notes import read_lessons
from utils.course.postmortem_notes import LearnerPostmortems
from utils.diagnosis import patterns
from utils.postmortem import Expectation, Verification, nonrecovery, verification
from utils.postmortem.forms import PostMortemWorkbook
from utils.spikelab import symptoms
from utils.spikelab.runlog import RunLog
from utils.spikelab.train import run_variant

REPO = Path(__file__).resolve().parent.parent
RUN_ID = "19-spike-001"
EXAMPLE = REPO / "learners" / "example-complete" / "phase-19" / "notes"
NOTEBOOKS = REPO / "notebooks" / "phase-19-diagnosis"


@pytest.fixture(scope="module")
def example() -> postmortem.PostMortem:
    return postmortem.parse_markdown((EXAMPLE / "postmortems" / f"{RUN_ID}.md").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- the worked example


def test_worked_example_parses_validates_and_round_trips(example):
    assert example.run_id == RUN_ID and example.date == "2026-11-23"
    assert postmortem.validate(example) == []
    text = (EXAMPLE / "postmortems" / f"{RUN_ID}.md").read_text(encoding="utf-8")
    assert postmortem.render_markdown(example) == text
    assert example.symptoms.confirmed == set(postmortem.SYMPTOM_FIELDS)   # drafted, then confirmed


def test_worked_example_symptoms_match_its_saved_run_log(example):
    path = postmortem.run_log_file(EXAMPLE, RUN_ID)
    assert path is not None, "the worked example's run log is saved beside it"
    log = RunLog.load(path)
    assert log.meta["variant"] == "broken" and log.meta["seed"] == 42
    report = postmortem.check_symptoms(example.symptoms, symptoms.compute(log))
    assert [c.field for c in report.checks] == list(postmortem.SYMPTOM_FIELDS)
    assert report.wrong == []


def test_worked_example_lesson_is_recorded_once(example):
    lines = (EXAMPLE / "lessons.md").read_text(encoding="utf-8").splitlines()
    expected = f"- {example.date} · phase 19 · run {RUN_ID} · {example.lesson}"
    assert lines.count(expected) == 1


def test_worked_example_verification_pins_the_remediation_claims(example, symptoms_of):
    v = example.verification
    assert (v.seed, v.step) == ("42", "420")
    eps = float(v.tolerance)

    def rows(variant):
        return {r.metric: r.ok for r in verification.check_expectations(v.expectations, symptoms_of(variant), eps)}

    metrics = [e.metric for e in v.expectations]
    assert "heldout_rise_sigma" in metrics and "grad_norm_ratio" in metrics
    assert rows("control-mixed-shard") == dict.fromkeys(metrics, True)     # the §5 fix is verified
    assert rows("broken") == dict.fromkeys(metrics, False)                 # the broken run fails every row
    # the other data-order fix, stratified-covering, passes some rows or all from run to run; it
    # always cuts broken's held-out rise by half
    assert symptoms_of("stratified-covering")["heldout_rise_sigma"] * 2 < symptoms_of("broken")["heldout_rise_sigma"]
    clip = rows("clip-0.5")
    assert not clip["heldout_rise_sigma"] and not clip["grad_norm_ratio"]  # clip 0.5 does not help
    for name in ["clip-0.5", "stratified", "stratified+clip-0.5", "emb-init-0.02", "retokenized"]:
        assert not all(rows(name).values()), name                          # no other candidate is verified


# --------------------------------------------------------------------------- the notebooks


@pytest.mark.parametrize("name", ["04-post-mortem", "05-remediate-and-verify"])
def test_built_notebooks_are_light_and_machine_independent(name):
    path = NOTEBOOKS / f"{name}.ipynb"
    assert path.stat().st_size < 300_000
    nb = json.loads(path.read_text(encoding="utf-8"))
    text = "".join("".join(o.get("text", "")) + json.dumps(o.get("data", {}).get("text/plain", ""))
                   for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"])
    assert not re.search(r"(/tmp/|/home/|/work/|/Users/|[A-Z]:\\\\)", text)
    assert not any(o.get("output_type") == "error" for c in nb["cells"] if c["cell_type"] == "code"
                   for o in c["outputs"])


def test_post_mortem_notebook_prints_the_worked_example_it_saved(example):
    nb = json.loads((NOTEBOOKS / "04-post-mortem.ipynb").read_text(encoding="utf-8"))
    out = "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"])
    assert postmortem.render_markdown(example) in out
    assert "no problems" in out
    assert f"saved learners/example-complete/phase-19/notes/postmortems/{RUN_ID}.md" in out


# --------------------------------------------------------------------------- the second worked example: nan

NAN_HEADER = "# Loss spike post-mortem — 2026-11-24 — nan\n"


@pytest.fixture(scope="module")
def nan_example() -> postmortem.PostMortem:
    """The `nan` post-mortem as the built 04-post-mortem notebook renders it (with render_markdown)."""
    nb = json.loads((NOTEBOOKS / "04-post-mortem.ipynb").read_text(encoding="utf-8"))
    outs = ["".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    [out] = [o for o in outs if o.startswith(NAN_HEADER)]
    text, _, rest = out.partition("\nno problems\n")
    assert rest == "", "the notebook prints the NaN post-mortem, then 'no problems'"
    pm = postmortem.parse_markdown(text)
    assert postmortem.render_markdown(pm) == text
    return pm


@pytest.fixture(scope="module")
def nan_log() -> RunLog:
    return run_variant("nan")


def test_nan_example_validates_clean_against_the_real_nan_run(nan_example, nan_log):
    assert nonrecovery.ended_nonfinite(nan_log)                   # the run did not recover: the rules apply
    assert postmortem.validate(nan_example, run_log=nan_log) == []
    assert nan_example.symptoms.recovery_loss == "did not recover"
    assert nan_example.symptoms.confirmed == set(postmortem.SYMPTOM_FIELDS)
    # §1 is the run log's, drafted: the same fields and words (the numbers are this machine's run)
    drafted = postmortem.draft_symptoms(symptoms.compute(nan_log))
    assert [bool(getattr(drafted, f)) for f in postmortem.SYMPTOM_FIELDS[:-1]] == \
        [bool(getattr(nan_example.symptoms, f)) for f in postmortem.SYMPTOM_FIELDS[:-1]]
    assert (drafted.recovery_loss, drafted.peak_loss, drafted.dtype) == ("did not recover", "nan", "float32")


def test_nan_example_fails_without_each_rule_of_a_spike_that_does_not_recover(nan_example, nan_log):
    rank1 = [h for h in nan_example.hypotheses if h.rank == 1]
    assert nonrecovery.names_nan_in_parameter(rank1[0].text) and nonrecovery.reverts_to_checkpoint(nan_example.remediation)
    no_recovery = dataclasses.replace(nan_example, symptoms=dataclasses.replace(nan_example.symptoms, recovery_loss="1.4"))
    no_hypothesis = dataclasses.replace(nan_example, hypotheses=[
        dataclasses.replace(h, text="The attention softmax overflowed float32") if h.rank == 1 else h
        for h in nan_example.hypotheses])
    no_checkpoint = dataclasses.replace(nan_example, remediation="Subtract the row maximum in the attention softmax.")
    for pm, section in [(no_recovery, 1), (no_hypothesis, 2), (no_checkpoint, 5)]:
        assert [p.section for p in postmortem.validate(pm, run_log=nan_log)] == [section]


@pytest.mark.parametrize("seed", [42, 43, 44, 45, 46])
def test_nan_example_verification_fails_the_nan_run_and_passes_the_rolled_back_fix_on_every_seed(nan_example, seed):
    v = dataclasses.replace(nan_example.verification, seed=str(seed))
    diverged = run_variant("nan", seed=seed)
    fixed = patterns.train_with_rollback("nan", every=25, fix="manual", seed=seed)
    assert [e["kind"] for e in fixed.events] == ["rollback"] and not nonrecovery.ended_nonfinite(fixed)
    assert int(v.step) == len(diverged) == len(fixed)
    nan_rows = verification.check_verification(v, diverged)
    fixed_rows = verification.check_verification(v, fixed)
    assert [r.ok for r in nan_rows[1:]] == [False] * len(v.expectations)
    assert all(r.note == "the run gives nan" for r in nan_rows[1:])
    assert verification.all_passed(fixed_rows), verification.format_table(fixed_rows)


def test_post_mortem_notebook_shows_the_nan_rules_caught_and_the_spanish_wording_passing():
    nb = json.loads((NOTEBOOKS / "04-post-mortem.ipynb").read_text(encoding="utf-8"))
    out = "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"])
    for start in ["§1 recovery_loss: '1.4', but the run did not recover",
                  "§2 no hypothesis says that a destructive update wrote a NaN into a parameter",
                  "§5 does not revert to the last NaN-free checkpoint"]:
        assert start in out
    assert "in Spanish: no problems" in out and "3 of 3 pass — verified" in out


# --------------------------------------------------------------------------- utils.postmortem.verification

SYMPTOMS = {"heldout_rise_sigma": 2.98, "grad_norm_ratio": 144.5, "spike_found": True, "spike_step": None,
            "unusual_tokens": ["tten"], "loss_ratio": 1.0}


def test_expectations_are_read_from_strings_tuples_and_dataclasses():
    assert verification.as_expectation("loss_ratio <= 1.5") == Expectation("loss_ratio", "<=", "1.5")
    assert verification.as_expectation(("loss_ratio", ">", 2)) == Expectation("loss_ratio", ">", "2")
    e = Expectation("a", "<", "1")
    assert verification.as_expectation(e) is e
    with pytest.raises(ValueError, match="no comparator"):
        verification.as_expectation("loss_ratio is small")


def test_check_expectations_pass_fail_and_epsilon():
    rows = verification.check_expectations(
        ["heldout_rise_sigma < 3", "heldout_rise_sigma < 2.95", "heldout_rise_sigma < 2.9",
         "grad_norm_ratio >= 15", "spike_found < 0.5", "loss_ratio <= 1"], SYMPTOMS, tolerance=0.05)
    assert [r.ok for r in rows] == [True, True, False, True, False, True]
    assert rows[1].note == "within ε (missed by 0.03)"
    assert rows[2].note == "misses by 0.08" and rows[2].actual == 2.98


def test_check_expectations_names_what_cannot_be_checked():
    rows = verification.check_expectations(
        ["heldout_rise_sigm < 3", "spike_step > 300", "unusual_tokens < 2", "loss_ratio < about 2",
         ("loss_ratio", "==", "1")], SYMPTOMS)
    assert not any(r.ok for r in rows)
    assert rows[0].note.startswith("no metric 'heldout_rise_sigm'") and "heldout_rise_sigma" in rows[0].note
    assert rows[1].note == "the run gives None, not a number"
    assert rows[2].note == "the run gives ['tten'], not a number"
    assert rows[3].note == "the value 'about 2' is not a number"
    assert rows[4].note.startswith("comparator '==' is not one of")


class _FakeLog:
    """Just enough of a RunLog for check_verification: a length and a seed."""

    def __init__(self, n: int, seed: int):
        self.meta = {"seed": seed}
        self.n = n

    def __len__(self) -> int:
        return self.n


def test_check_verification_checks_seed_and_step(monkeypatch):
    import utils.spikelab.symptoms

    monkeypatch.setattr(utils.spikelab.symptoms, "compute", lambda log: SYMPTOMS)
    v = Verification(seed="42", tolerance="0.05", step="420", expectations=[Expectation("heldout_rise_sigma", "<", "3")])
    rows = verification.check_verification(v, _FakeLog(420, 42))
    assert [(r.metric, r.ok) for r in rows] == [("seed", True), ("heldout_rise_sigma", True)]
    assert verification.all_passed(rows)
    rows = verification.check_verification(v, _FakeLog(420, 43))
    assert not rows[0].ok and rows[0].note == "the rerun used seed 43" and not verification.all_passed(rows)
    rows = verification.check_verification(v, _FakeLog(300, 42))
    assert rows[1].note == "the run stopped at 300 steps, before step T = 420" and not rows[1].ok
    bad = Verification(seed="42", tolerance="small", step="420", expectations=v.expectations)
    assert "ε 'small' is not a number" in verification.check_verification(bad, _FakeLog(420, 42))[1].note
    assert not verification.all_passed([])


def test_tables_show_each_row_and_the_verdict():
    rows = verification.check_expectations(["heldout_rise_sigma < 3", "grad_norm_ratio < 15"], SYMPTOMS)
    table = verification.format_table(rows, title="— run")
    assert table.splitlines()[0] == "— run"
    assert "grad_norm_ratio < 15" in table and "FAIL" in table and table.endswith("1 of 2 pass")
    matrix = verification.format_matrix({"a": rows, "b": rows[:1] * 2})
    lines = matrix.splitlines()
    assert lines[0].split()[0] == "run" and lines[1].startswith("a") and lines[1].endswith("1 of 2")
    assert "2.98 ✓" in lines[1] and "144.5 ✗" in lines[1] and lines[2].endswith("2 of 2 — verified")


# --------------------------------------------------------------------------- postmortem save fixes


def test_saving_the_same_post_mortem_twice_records_its_lesson_once(learners, example):
    path, line = postmortem_notes.save_with_lesson(example)
    assert line == f"- 2026-11-23 · phase 19 · run {RUN_ID} · {example.lesson}"   # the post-mortem's date
    assert postmortem_notes.save_with_lesson(example) == (path, line)
    assert read_lessons(19) == [line] and postmortem_notes.kept_versions(RUN_ID) == []
    changed = postmortem.parse_markdown(postmortem.render_markdown(example))
    changed.lesson = "Another lesson."
    postmortem_notes.save_with_lesson(changed)
    assert len(read_lessons(19)) == 2 and [p.name for p in postmortem_notes.kept_versions(RUN_ID)] == [f"{RUN_ID}.v1.md"]


def test_workbook_says_which_earlier_version_it_kept(learners, example):
    wb = PostMortemWorkbook(RUN_ID, notes=LearnerPostmortems())
    wb.fill(example)
    wb.save_with_lesson()
    assert wb.messages == [f"saved learners/ana/phase-19/notes/postmortems/{RUN_ID}.md",
                           f"lesson recorded: - 2026-11-23 · phase 19 · run {RUN_ID} · {example.lesson}"]
    wb.save_with_lesson()
    assert wb.messages[1].startswith("lesson already recorded: ")
    wb.root_cause.text.value = "Something else caused it."
    wb.save()
    assert wb.messages[0].startswith(f"saved learners/ana/phase-19/notes/postmortems/{RUN_ID}.md (kept the earlier "
                                     f"version as learners/ana/phase-19/notes/postmortems/{RUN_ID}.v1.md)")
