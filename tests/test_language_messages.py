"""The code's messages in the learner's language: a refusal of the notes, the grader's runner lines
(a timeout, a dead kernel, a check that could not run) and §6's verification tables come out Spanish
under ``speaking("es")`` and, word for word as before, English under ``speaking("en")`` (the committed
notebooks and the grading tests read the English). The last tests hold what a sweep of every notebook
executed in Spanish found (the field a post-mortem problem names, the NaN run's accepted words, the
comparison's progress bar, an unknown variant and an unreadable run log)."""
from __future__ import annotations

import errno
import logging
import re

import nbformat
import pytest
import torch

from utils.course import notes
from utils.course.choice import Choice
from utils.course.grading import CellOutcome, GradedCopy, Run, failure_message, grade_results
from utils.postmortem import verification
from utils.diagnosis import stability_check
from utils.postmortem.model import Expectation, Verification
from utils.recovery.checkpoint import CheckpointManager, CorruptCheckpointError
from utils.recovery.detectors import detector_from_name
from utils.recovery.lightning_rollback import RollbackOnSpike
from utils.recovery.rollback import RecoveryFailed, result_from_log
from utils.recovery.traces import TraceFileError, load_traces
from utils.spikelab.runlog import RunLog
from utils.text import speaking

# English words that must not reach a Spanish learner in these messages
ENGLISH = re.compile(r"\b(the|not|was|is|of|pass|passed|run gives|result|note|expectation|timed out|"
                     r"kernel died|cell|check|graded|yes|variant|damage|verified|disk|space|saved)\b")
SYMPTOMS = {"heldout_rise_sigma": 2.98, "grad_norm_ratio": 144.5, "loss_ratio": 1.0, "post_event_ratio": 1.02}
DEAD = ("Cell 3: the kernel died while this cell ran (exit code 1): it ended the Python process (os._exit, a "
        "crash or running out of memory), so the cells after it could not run")


def _english_left(text: str) -> list[str]:
    return ENGLISH.findall(text)


# --------------------------------------------------------------------------- the notes' refusals


def _disk_full(monkeypatch):
    def write(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(notes.os, "write", write)


def test_a_full_disk_refusal_in_each_language(learners, monkeypatch):
    notes.append_lesson(19, "first lesson")
    with monkeypatch.context() as m:
        _disk_full(m)
        with speaking("es"), pytest.raises(notes.NoteNotSaved) as es:
            notes.append_lesson(19, "second lesson")
        with speaking("en"), pytest.raises(notes.NoteNotSaved) as en:
            notes.append_lesson(19, "second lesson")
    assert str(es.value) == ("La lección no se ha guardado (no queda espacio en el disco); "
                             "learners/ana/phase-19/notes/lessons.md no ha cambiado. Libera espacio en el disco y "
                             "vuelve a intentarlo.")
    assert str(en.value) == ("The lesson was not saved (No space left on device); learners/ana/phase-19/notes/"
                             "lessons.md is unchanged. Free some disk space and try again.")
    assert notes.read_lessons(19)[-1].endswith("first lesson")          # nothing lost, nothing torn


@pytest.mark.parametrize("relpath, spanish", [
    ("../x.md", "La ruta de la nota '../x.md' contiene '..'; debe quedarse dentro de la carpeta de notas."),
    ("/etc/x.md", "es absoluta"),
    ("a.v2.md", "termina como una versión guardada (.vN)"),
])
def test_an_unsafe_note_name_is_refused_in_each_language(learners, relpath, spanish):
    with speaking("es"), pytest.raises(ValueError) as es:
        notes.save_note(19, relpath, "x")
    assert spanish in str(es.value) and not _english_left(str(es.value).replace(relpath, ""))
    with speaking("en"), pytest.raises(ValueError, match="The note's (path|name)"):
        notes.save_note(19, relpath, "x")


def test_a_lesson_of_two_lines_is_refused_in_each_language(learners):
    with speaking("es"), pytest.raises(ValueError, match=r"El texto de la lección contiene un salto de línea \(U\+000A\)"):
        notes.append_lesson(19, "one\ntwo")
    with speaking("en"), pytest.raises(ValueError, match=r"The lesson text contains a line break \(U\+000A\)"):
        notes.append_lesson(19, "one\ntwo")
    assert notes.read_lessons(19) == []


# --------------------------------------------------------------------------- the grader's lines


def test_timeout_and_dead_kernel_lines_in_each_language():
    timeout = "Cell 4: Timeout of 5 seconds exceeded executing cell"
    with speaking("es"):
        assert failure_message(timeout) == "tiempo agotado tras 5 s"
        died = failure_message(DEAD)
        after = failure_message("Kernel dead on test start")
    assert died.startswith("el kernel murió mientras se ejecutaba esta celda (código de salida 1): ")
    assert after.startswith("sin ejecutar: el kernel estaba muerto")
    assert not _english_left(died) and not _english_left(after)
    with speaking("en"):
        assert failure_message(timeout) == "timed out after 5 s"
        assert failure_message(DEAD) == DEAD.removeprefix("Cell 3: ")     # the plugin's words, unchanged
        assert failure_message("Kernel dead on test start") == \
            "not run: the kernel was dead (an earlier cell ended the Python process)"


def test_checks_that_could_not_run_are_said_in_each_language():
    """A kernel that died in the learner's cell, and a check after a timeout: each check's line."""
    graded = GradedCopy(nbformat.v4.new_notebook(), [("cell", None, 0), ("check", "a", 0), ("check", "b", 0)],
                        ["cell 1 (`import os`)", "check a", "check b"], [("c", 1)])
    run = Run({0: CellOutcome("kernel died", "…"), 1: CellOutcome("after-death", "…"),
               2: CellOutcome("after-timeout", "…")})
    with speaking("es"):
        checks, _ = grade_results(graded, run)
    messages = [c.message for c in checks]
    assert messages[0] == ("sin corregir: el kernel murió en cell 1 (`import os`), así que esta comprobación no pudo "
                           "ejecutarse")
    assert messages[1].startswith("sin corregir: una celda anterior agotó su tiempo")
    assert messages[2].startswith("el cuaderno no tiene ninguna celda del ejercicio c")
    assert not any(_english_left(m.replace("cell 1 (`import os`)", "")) for m in messages), messages
    with speaking("en"):
        checks, _ = grade_results(graded, run)
    assert checks[0].message == "not graded: the kernel died in cell 1 (`import os`), so this check could not run"
    assert checks[1].message.startswith("not graded: an earlier cell timed out")


# --------------------------------------------------------------------------- §6's verification tables


def test_verification_tables_in_each_language():
    expectations = ["heldout_rise_sigma < 3", "heldout_rise_sigma < 2.95", "grad_norm_ratio < 15"]
    with speaking("es"):
        rows = verification.check_expectations(expectations, SYMPTOMS, tolerance=0.05)
        table = verification.format_table(rows, title="— broken")
        matrix = verification.format_matrix({"broken": rows, "clip-0.5": rows[:1] * 3})
        comparison = verification.format_comparison({"broken": SYMPTOMS})
    assert table.splitlines()[1].split("  ")[0] == "expectativa"
    assert "dentro de ε (a 0.03 del límite)" in table and "no se cumple por 130" in table
    assert "FALLO" in table and table.endswith("2 de 3 correctas")
    assert matrix.splitlines()[0].startswith("ejecución") and matrix.endswith("3 de 3 — verificado")
    assert comparison.splitlines()[0].split() == ["variante", "pérdida÷EMA", "ratio", "grad-norm", "subida", "en",
                                                   "validación", "post-evento", "pico", "de", "gradiente", "daño"]
    assert comparison.splitlines()[1].split()[-2:] == ["sí", "no"]
    for text in (table, matrix, comparison):
        words = text.replace("heldout_rise_sigma", "").replace("grad_norm_ratio", "").replace("broken", "")
        assert not _english_left(words), (_english_left(words), text)
    with speaking("en"):
        rows = verification.check_expectations(expectations, SYMPTOMS, tolerance=0.05)
        table = verification.format_table(rows)
        comparison = verification.format_comparison({"broken": SYMPTOMS})
    assert table.splitlines()[0].split() == ["expectation", "run", "gives", "result", "note"]
    assert "within ε (missed by 0.03)" in table and table.endswith("2 of 3 pass")
    assert comparison.splitlines() == [
        "variant  loss÷EMA  grad ratio  held-out rise  post-event  gradient spike  damage",
        "broken       1.00      144.5×          3.0 σ        1.02  yes             no"]


def test_verification_seed_and_step_notes_in_each_language():
    class Log:
        meta = {"seed": 43}

        def __len__(self) -> int:
            return 300

    v = Verification(seed="42", tolerance="0.05", step="420", expectations=[Expectation("loss_ratio", "<", "2")])
    with speaking("es"):
        rows = verification.check_verification(v, Log())
    assert [r.note for r in rows] == ["la nueva ejecución usó la semilla 43",
                                      "la ejecución se detuvo en 300 pasos, antes del paso T = 420"]
    with speaking("es"), pytest.raises(ValueError, match="no tiene comparador"):
        verification.as_expectation("loss_ratio is small")


# --------------------------------------------------------------------------- a choice question's refusal


def test_a_choice_refusal_in_each_language():
    question = Choice("19.01", "first-q", "Which?", {"a": ("one", "because"), "b": ("two", "because not")}, right="a")
    with speaking("es"), pytest.raises(ValueError, match="'c' no es una opción de la pregunta first-q: a, b"):
        question.choose("c")
    with speaking("es"), pytest.raises(ValueError, match="una pregunta de opción múltiple necesita al menos dos"):
        Choice("19.01", "q", "Which?", {"a": ("one", "because")}, right="a")



# --------------------------------------------------------------------------- the dashboard's panels


def test_the_dashboard_draws_its_panels_in_each_language():
    from test_dashboard import tiny_log
    from utils.diagnosis import dashboard

    with speaking("es"):
        fig = dashboard.draw(tiny_log(), step=20)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles[0] == "1 · Pérdida y EMA de 50 pasos" and titles[5] == "6 · Composición del batch"
    texts = titles + [fig.get_suptitle()] + [ax.get_xlabel() for ax in fig.axes] + [ax.get_ylabel() for ax in fig.axes] \
        + [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "paso" in fig.get_suptitle() and "pasos" in fig.get_suptitle()
    assert not [t for t in texts if re.search(r"\b(loss|step|steps|rare rows|non-finite|count|norm|layer)\b", t)], texts
    with speaking("en"):
        fig = dashboard.draw(tiny_log(), step=20)
    assert fig.axes[0].get_title(loc="left") == "1 · Loss and 50-step EMA" and "cursor at step 20" in fig.get_suptitle()


# --------------------------------------------------------------------------- the stability check


def test_the_stability_check_asks_and_answers_in_each_language(capsys):
    """The decision tree's questions, answers and printout (the non-finite branch of a hand-made run, and
    the finite branch's loss-spike question), and the command line's complaint."""
    from test_dashboard import damaged_log, tiny_log

    with speaking("es"):
        verdict = stability_check.check(damaged_log())
        printed = stability_check.render(verdict)
        finite = stability_check.check(tiny_log())
        assert stability_check.main([]) == 2
    first = verdict.evidence[1]
    assert first.question == "¿Qué dejó de ser finito primero: los parámetros, la pérdida o los gradientes?"
    assert first.answer == ("la pérdida (desbordó un forward), en el paso 55; después, gradientes en el paso 55, "
                            "parámetros en el paso 56")
    assert finite.evidence[2].question == "¿Un pico de pérdida (pérdida ≥ 1.5× su EMA de 50 pasos, tras el warmup)?"
    assert finite.evidence[2].answer == "sí, desde el paso 40"
    assert printed.splitlines()[0] == "comprobación de estabilidad de la ejecución tiny"
    assert printed.splitlines()[-1] == "patrón: nan-non-recovery   runner-up: none"
    words = printed.replace("nan-non-recovery", "").replace("runner-up", "")
    assert not _english_left(words) and not re.search(r"\b(step|loss|yes|verdict|pattern)\b", words), printed
    assert capsys.readouterr().err.startswith("error: indica la ruta de un registro de ejecución o --variant")
    with speaking("en"):
        verdict = stability_check.check(damaged_log())
        finite = stability_check.check(tiny_log())
        assert stability_check.main([]) == 2
        printed = stability_check.render(verdict)
    assert verdict.evidence[1].question == "Which became non-finite first: parameters, loss or gradients?"
    assert verdict.evidence[1].answer == ("the loss (a forward pass overflowed), at step 55; then grads at step 55, "
                                          "params at step 56")
    assert finite.evidence[2].question == "A loss spike (loss ≥ 1.5× its 50-step EMA after warmup)?"
    assert printed.splitlines()[0] == "stability check of run tiny" and " 5. [verdict] Decision" in printed
    assert capsys.readouterr().err == "error: give a run log path or --variant NAME (one of them)\n"


# --------------------------------------------------------------------------- the recovery loops


def test_a_damaged_checkpoint_is_skipped_and_said_in_each_language(tmp_path, caplog):
    """A checkpoint whose file no longer matches its manifest: the search keeps the one before it, and the
    warning and the error say so in the learner's language."""
    manager = CheckpointManager(tmp_path, keep_last=3)
    manager.save(10, {"w": torch.ones(2)})
    path = manager.save(20, {"w": torch.full((2,), 2.0)})
    data = bytearray(path.read_bytes())
    data[-1] ^= 1                                                    # same size, another sha256
    path.write_bytes(bytes(data))
    for lang, skipped, mismatch in [
            ("es", "se descarta el checkpoint del paso 20", "el sha256 no coincide con el del manifiesto"),
            ("en", "checkpoint at step 20 skipped", "sha256 does not match the manifest")]:
        caplog.clear()
        with speaking(lang), caplog.at_level(logging.WARNING, logger="utils.recovery.checkpoint"):
            found = manager.latest_good()
            with pytest.raises(CorruptCheckpointError) as error:
                manager.load(path)
        assert found[0] == 10 and torch.equal(found[1]["w"], torch.ones(2))     # the last good one is kept
        assert caplog.text.count(f"{skipped}: {path}: {mismatch}") == 1, caplog.text
        assert str(error.value) == f"{path}: {mismatch}"


GAVE_UP = {"step": 316, "kind": "give-up", "cause": "retries", "series": "loss", "incident_start": 312, "retries": 3,
           "detection": {"step": 316, "value": 1.771, "reference": 0.9992, "score": 1.77, "reason": "above-ema"},
           "last_good_checkpoint": 300,
           "reason": "retry budget exhausted: 3 rollbacks for the incident that began at step 312 did not hold; a loss "
                     "detection again at step 316 (above-ema, value 1.771 vs reference 0.9992)"}


def test_why_the_recovery_loop_gave_up_in_each_language():
    """The give-up reason a notebook prints comes from the run log's numbers, in the language of whoever reads
    it (a shared run trained in English reads Spanish to a Spanish learner); the English is the log's own."""
    log = RunLog(meta={"run_id": "r", "rollback": {
        "status": "gave-up", "reason": GAVE_UP["reason"], "rollbacks": 3, "retries": 3, "quarantined": [311, 312],
        "steps_trained": 366, "steps_discarded": 49, "checkpoint_seconds": 0.1, "probe_seconds": 0.0,
        "train_seconds": 1.0}}, events=[dict(GAVE_UP)])
    with speaking("es"):
        result = result_from_log(log)
        with pytest.raises(RecoveryFailed) as failed:
            result.raise_if_gave_up()
    assert result.reason == ("presupuesto de reintentos agotado: 3 rollbacks no bastaron para el incidente que empezó "
                             "en el paso 312; la pérdida vuelve a dar una detección en el paso 316 (above-ema, valor "
                             "1.771 frente a la referencia 0.9992)")
    assert str(failed.value) == result.reason and not _english_left(result.reason.replace("above-ema", ""))
    with speaking("en"):
        assert result_from_log(log).reason == GAVE_UP["reason"]


@pytest.mark.parametrize("refused, spanish, english", [
    (lambda tmp: RollbackOnSpike(every_n_steps=0), "every_n_steps debe ser >= 1", "every_n_steps must be >= 1"),
    (lambda tmp: CheckpointManager(tmp, keep_last=0), "keep_last debe ser >= 1", "keep_last must be >= 1"),
    (lambda tmp: detector_from_name("cusum2"), "detector desconocido 'cusum2'", "unknown detector 'cusum2'"),
    (lambda tmp: load_traces(tmp / "none.json"), "none.json: no existe el archivo", "none.json: no such file"),
])
def test_a_recovery_refusal_in_each_language(tmp_path, refused, spanish, english):
    with speaking("es"), pytest.raises((ValueError, TraceFileError)) as es:
        refused(tmp_path)
    assert spanish in str(es.value) and not _english_left(str(es.value).replace(str(tmp_path), ""))
    with speaking("en"), pytest.raises((ValueError, TraceFileError)) as en:
        refused(tmp_path)
    assert english in str(en.value)


# --------------------------------------------------------------------------- found by the Spanish sweep of the notebooks


def test_a_problems_field_is_named_in_each_language():
    """A problem's field that is a word (§6's seed, tolerance and step, its expectations, §2's ranks, the header's
    date) is named as the form's boxes name it; a template key (``spike_step``) stays as the form's label shows it."""
    from utils import postmortem
    from utils.postmortem.model import Hypothesis, PostMortem, Problem

    pm = PostMortem("19-spike-001", "23/11/2026",
                    hypotheses=[Hypothesis(1, "a", [1]), Hypothesis(1, "b", [2]), Hypothesis(2, "c", [3])],
                    verification=Verification(seed="x", tolerance="-1", step="abc"))
    with speaking("es"):
        spanish = [str(p) for p in postmortem.validate(pm, sections=[0, 2, 6])]
        key = str(Problem(1, "spike_step", "vacío"))
    with speaking("en"):
        english = [str(p) for p in postmortem.validate(pm, sections=[0, 2, 6])]
    named = [line.split(":")[0] for line in spanish]
    assert {"encabezado fecha", "§2 rangos", "§6 semilla", "§6 tolerancia", "§6 paso T", "§6 expectativas"} <= set(named)
    assert not [n for n in named if re.search(r"\b(date|ranks|seed|tolerance|step|expectations)\b", n)], named
    assert key == "§1 spike_step: vacío"
    assert {"header date", "§2 ranks", "§6 seed", "§6 tolerance", "§6 step", "§6 expectations"} <= \
        {line.split(":")[0] for line in english}


def test_a_nan_run_asks_for_its_words_in_each_language():
    """§2 of a run that did not recover lists the words the checker reads (both languages' words), joined in the
    learner's language: no English 'or'/'and' between them in Spanish."""
    from utils.postmortem import nonrecovery
    from utils.postmortem.model import Hypothesis

    hyps = [Hypothesis(1, "The attention softmax overflowed float32", [8])]
    with speaking("es"):
        (spanish,) = nonrecovery.check_hypotheses(hyps, "su registro termina con una pérdida no finita")
    with speaking("en"):
        (english,) = nonrecovery.check_hypotheses(hyps, "its run log ends non-finite")
    words = spanish.message.split("nombrando ")[1]
    assert words == "'NaN' (o 'non-finite', 'no finito') y 'parameter' o 'weight' ('parámetro', 'peso')"
    assert not re.search(r"\b(or|and)\b", re.sub(r"'[^']*'", "", spanish.message)), spanish.message
    assert english.message.endswith("naming 'NaN' (or 'non-finite', 'no finito') and 'parameter' or 'weight' "
                                    "('parámetro', 'peso')")


def test_the_comparison_progress_bar_in_each_language(monkeypatch):
    """compare_variants' progress bar (a widget in a notebook) names what it counts in the learner's language."""
    import tqdm.auto

    from utils.diagnosis import compare

    seen = []

    def bar(items, desc=None, **kwargs):
        seen.append(desc)
        return items

    monkeypatch.setattr(tqdm.auto, "tqdm", bar)
    monkeypatch.setattr(compare, "symptoms_of", lambda name, seed=42: {
        "loss_ratio": 1.0, "grad_norm_ratio": 1.0, "heldout_rise_sigma": 0.0, "post_event_ratio": 1.0})
    for lang in ("es", "en"):
        with speaking(lang):
            compare.compare_variants(["healthy"])
    assert seen == ["ejecuciones", "runs"]


@pytest.mark.parametrize("refused, spanish, english", [
    (lambda tmp: __import__("utils.spikelab.config", fromlist=["config_for"]).config_for("nope"),
     "variante desconocida 'nope'; elige una de: healthy, broken", "unknown variant 'nope'; choose one of: healthy"),
    (lambda tmp: RunLog.load(tmp / "none.json"), "no se puede leer el registro de ejecución", "cannot read run log"),
    (lambda tmp: RunLog.from_bytes(b'{"meta": {}}', tmp / "x.json"),
     "x.json no es un registro de ejecución (necesita 'meta' y 'steps')", "x.json is not a run log (needs"),
])
def test_a_run_refusal_in_each_language(tmp_path, refused, spanish, english):
    """A variant name the course lacks (a learner types it into run_variant) and a run log that cannot be read
    (the workbook and the grader quote it)."""
    with speaking("es"), pytest.raises(ValueError) as es:
        refused(tmp_path)
    shown = str(es.value).replace(str(tmp_path), "").split(": [Errno")[0]
    assert spanish in str(es.value) and not re.search(r"\b(unknown|choose|cannot|read|run log|needs)\b", shown), shown
    with speaking("en"), pytest.raises(ValueError) as en:
        refused(tmp_path)
    assert english in str(en.value)
