"""The post-mortem's validator: `validate(pm)` -> every `Problem`, in section order (header first).

An empty section is itself a problem, named with why the section exists (`SECTION_WHY`). Numbers
are read by `utils.postmortem.typed_numbers`, which takes the decimal comma ("2,31") and says when
a comma is what stops a number. With the run the post-mortem is about (`validate(pm, run_log=log)`),
§6 is also checked against that run (`utils.postmortem.run`: its metric names and its length).
A run that did not recover (a NaN run: its run log ends non-finite, or, without a run log, §1 says
'did not recover') also gets the template's rules for it, in §1, §2 and §5
(`utils.postmortem.nonrecovery`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import Iterable

from utils.postmortem import nonrecovery
from utils.postmortem import run as postmortem_run
from utils.postmortem.files import RUN_ID_RE
from utils.postmortem.model import (
    COMPARATORS,
    DATE_RE,
    DTYPES,
    FLOAT_FIELDS,
    INTEGER_FIELDS,
    MIN_HYPOTHESES,
    NONFINITE_OK_FIELDS,
    PANELS,
    RECOVERY_WORDS,
    REMEDIATION_MAX_WORDS,
    SECTION_TITLES,
    SECTION_WHY,
    SYMPTOM_FIELDS,
    SYMPTOM_HINTS,
    Evidence,
    Hypothesis,
    PostMortem,
    Problem,
    Symptoms,
    Verification,
    normal_dtype,
    recovery_word,
)
from utils.postmortem.typed_numbers import comma_error, format_int_list, number_error, parse_number
from utils.spikelab.runlog import RunLog
from utils.text import say

# Abbreviations whose final period does not end a sentence (compared in lower case, without
# the final period); the second line, Spanish ones ("p. ej.", "aprox."): a post-mortem may be written in Spanish.
ABBREVIATIONS = frozenset(
    {"e.g", "i.e", "vs", "etc", "cf", "approx", "fig", "eq", "al", "resp", "w.r.t", "ca", "incl", "esp",
     "ej", "p.ej", "aprox", "pág", "núm", "aprox", "máx", "mín", "sr", "sra", "dr", "dra"}
)


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences, robust to "e.g.", "vs.", decimals ("2.5"), "1e-8" and initials.

    A sentence ends at ".", "!" or "?" (plus closing quotes or brackets) followed by white
    space, unless the word before the period is a known abbreviation or a single letter.
    """
    flat = " ".join(text.split())
    if not flat:
        return []
    sentences, start = [], 0
    for match in re.finditer(r"[.!?]+[\"'”’)\]]*(?=\s)", flat):
        if flat[match.start()] == "." and match.group().count(".") == 1:
            before = re.search(r"(\S+)$", flat[start:match.start()])
            word = before.group(1).lstrip("(\"'“‘[").lower() if before else ""
            if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
        sentences.append(flat[start:match.end()].strip())
        start = match.end()
    tail = flat[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _empty(section: int) -> Problem:
    return Problem(section, "", say(f"{SECTION_TITLES[section]} is empty: {SECTION_WHY[section]}",
                                    f"{SECTION_TITLES[section]} está vacía: {SECTION_WHY[section]}"))


def _check_header(pm: PostMortem) -> list[Problem]:
    out = []
    if not RUN_ID_RE.fullmatch(pm.run_id):
        out.append(Problem(0, "run_id", say(f"{pm.run_id!r} is not a run id (letters, digits, '.', '_', '-'; "
                                            "not ending like a kept version, .v2)",
                                            f"{pm.run_id!r} no es un identificador de ejecución (letras, cifras, "
                                            "'.', '_', '-'; sin terminar como una versión guardada, .v2)")))
    if not DATE_RE.fullmatch(pm.date):
        out.append(Problem(0, "date", say(f"{pm.date!r} is not a date written YYYY-MM-DD",
                                          f"{pm.date!r} no es una fecha escrita AAAA-MM-DD")))
    return out


def _check_symptoms(s: Symptoms) -> list[Problem]:
    if s.is_empty():
        return [_empty(1)]
    out = []
    values: dict[str, float | int | None] = {}
    for name in INTEGER_FIELDS + FLOAT_FIELDS:
        text = getattr(s, name).strip()
        if not text:
            out.append(Problem(1, name, say(f"empty: write {SYMPTOM_HINTS[name]}",
                                            f"vacío: escribe {SYMPTOM_HINTS[name]}")))
            continue
        if name == "recovery_loss" and recovery_word(text):
            continue
        integer = name in INTEGER_FIELDS
        number = parse_number(text, integer=integer, allow_nonfinite=name in NONFINITE_OK_FIELDS)
        if number is None:
            comma = comma_error(text, integer=integer)   # a number written with the wrong comma
            extra = say(" or the words 'did not recover' / 'NaN'",
                        " o las palabras 'did not recover' / 'NaN'") if name == "recovery_loss" else ""
            out.append(Problem(1, name, comma or say(f"numbers only{extra}: {text!r} is not {SYMPTOM_HINTS[name]}",
                                                     f"solo números{extra}: {text!r} no es {SYMPTOM_HINTS[name]}")))
            continue
        values[name] = number
        if name in INTEGER_FIELDS and number < 0:
            out.append(Problem(1, name, say(f"{text} is negative; steps and batch indices start at 0",
                                            f"{text} es negativo; los pasos y los índices de batch empiezan en 0")))
        if name in ("grad_norm_preclip", "lr_at_spike") and number < 0:
            out.append(Problem(1, name, say(f"{text} is negative; a norm or a learning rate is not",
                                            f"{text} es negativo; una norma o un learning rate no lo es")))
    dtype = s.dtype.strip()
    if not dtype:
        out.append(Problem(1, "dtype", say(f"empty: write {SYMPTOM_HINTS['dtype']}",
                                           f"vacío: escribe {SYMPTOM_HINTS['dtype']}")))
    elif normal_dtype(dtype) not in DTYPES:
        out.append(Problem(1, "dtype", say(f"{dtype!r} is not one of {', '.join(DTYPES)}",
                                           f"{dtype!r} no es uno de {', '.join(DTYPES)}")))
    for i, token in enumerate(s.unusual_tokens, start=1):
        if token == "":
            out.append(Problem(1, "unusual_tokens", say(f"token {i} is empty", f"el token {i} está vacío")))
    ema, peak = values.get("pre_spike_ema"), values.get("peak_loss")
    if ema is not None and peak is not None and math.isfinite(ema) and math.isfinite(peak) and peak <= ema:
        out.append(Problem(1, "peak_loss", say(f"{s.peak_loss.strip()} is not above the pre-spike EMA "
                                               f"{s.pre_spike_ema.strip()}: a spike's peak lies above its baseline",
                                               f"{s.peak_loss.strip()} no está por encima de la EMA previa al pico "
                                               f"{s.pre_spike_ema.strip()}: el máximo de un pico está por encima "
                                               "de su línea base")))
    for name in SYMPTOM_FIELDS:
        if name in s.drafted and name not in s.confirmed:
            out.append(Problem(1, name, say("drafted from the run log, not yet confirmed: "
                                            "check it against the dashboard, then confirm it",
                                            "rellenado desde el registro de la ejecución, aún sin confirmar: "
                                            "compruébalo en el panel de control y después confírmalo")))
    return out


def _check_panels(section: int, where: str, panels: Iterable[int | None]) -> list[Problem]:
    return [Problem(section, where, say(f"panel {p} does not exist (the dashboard has panels 1-8)",
                                        f"el panel {p} no existe (el panel de control tiene los paneles 1-8)"))
            for p in panels if p is not None and p not in PANELS]


def _check_hypotheses(hyps: list[Hypothesis]) -> list[Problem]:
    if not hyps:
        return [_empty(2)]
    out = []
    if len(hyps) < MIN_HYPOTHESES:
        out.append(Problem(2, "", say(f"only {len(hyps)} hypothes{'is' if len(hyps) == 1 else 'es'}: "
                                      f"rank at least {MIN_HYPOTHESES}, or the first idea wins by default",
                                      f"solo {len(hyps)} hipótesis: ordena al menos {MIN_HYPOTHESES}, o la "
                                      "primera idea gana por defecto")))
    ranks = [h.rank for h in hyps]
    for i, h in enumerate(hyps, start=1):
        where = say(f"row {i}", f"fila {i}")
        if h.rank is None:
            out.append(Problem(2, where, say("has no rank", "no tiene rango")))
        if not h.text.strip():
            out.append(Problem(2, where, say("has no hypothesis text", "no tiene el texto de la hipótesis")))
        if not h.panels:
            out.append(Problem(2, where, say("cites no dashboard panel: name the panel(s) that support it",
                                             "no cita ningún panel: nombra el panel o los paneles que la apoyan")))
        out += _check_panels(2, where, h.panels)
    given = [r for r in ranks if r is not None]
    for rank, count in sorted(Counter(given).items()):
        if count > 1:
            out.append(Problem(2, "ranks", say(f"rank {rank} is used {count} times: each rank once",
                                               f"el rango {rank} se usa {count} veces: cada rango una vez")))
    wanted = set(range(1, len(hyps) + 1))
    outside = sorted(set(given) - wanted)
    missing = sorted(wanted - set(given))
    if outside:
        out.append(Problem(2, "ranks", say(f"rank(s) {format_int_list(outside)} outside 1..{len(hyps)}",
                                           f"rango(s) {format_int_list(outside)} fuera de 1..{len(hyps)}")))
    if missing:
        out.append(Problem(2, "ranks", say(f"ranks must run 1..{len(hyps)} without gaps: "
                                           f"missing {format_int_list(missing)}",
                                           f"los rangos deben ir de 1 a {len(hyps)} sin huecos: "
                                           f"falta(n) {format_int_list(missing)}")))
    return out


def _check_evidence(rows: list[Evidence], hyps: list[Hypothesis]) -> list[Problem]:
    if not rows:
        return [_empty(3)]
    out = []
    known = {h.rank for h in hyps if h.rank is not None}
    for i, row in enumerate(rows, start=1):
        where = say(f"row {i}", f"fila {i}")
        if row.panel is None:
            out.append(Problem(3, where, say("names no panel", "no nombra ningún panel")))
        out += _check_panels(3, where, [row.panel])
        if not row.observation.strip():
            out.append(Problem(3, where, say("has no observation", "no tiene observación")))
        if row.favours is None:
            out.append(Problem(3, where, say("does not say which hypothesis (rank) it favours",
                                             "no dice qué hipótesis (rango) favorece")))
        elif known and row.favours not in known:
            out.append(Problem(3, where, say(f"favours rank {row.favours}, but no hypothesis has that rank",
                                             f"favorece el rango {row.favours}, pero ninguna hipótesis tiene ese rango")))
        if not row.rules_out:
            out.append(Problem(3, where, say("rules nothing out: evidence that rules out no hypothesis "
                                             "does not discriminate",
                                             "no descarta nada: una evidencia que no descarta ninguna hipótesis "
                                             "no discrimina")))
        for r in row.rules_out:
            if known and r not in known:
                out.append(Problem(3, where, say(f"rules out rank {r}, but no hypothesis has that rank",
                                                 f"descarta el rango {r}, pero ninguna hipótesis tiene ese rango")))
        if row.favours is not None and row.favours in row.rules_out:
            out.append(Problem(3, where, say(f"both favours and rules out rank {row.favours}",
                                             f"favorece y a la vez descarta el rango {row.favours}")))
    if known:
        ruled_out = {r for row in rows for r in row.rules_out}
        favoured = {row.favours for row in rows}
        if 1 in known and 1 in ruled_out:
            out.append(Problem(3, "", say("the evidence rules out your rank-1 hypothesis: re-rank §2",
                                          "la evidencia descarta tu hipótesis de rango 1: reordena §2")))
        elif 1 in known and 1 not in favoured:
            out.append(Problem(3, "", say("no row favours your rank-1 hypothesis",
                                          "ninguna fila favorece tu hipótesis de rango 1")))
        standing = sorted(r for r in known - ruled_out if r != 1)
        if standing:
            out.append(Problem(3, "", say(f"rank(s) {format_int_list(standing)} never ruled out: find the panel "
                                          "that separates them from rank 1",
                                          f"rango(s) {format_int_list(standing)} nunca descartado(s): busca el "
                                          "panel que los separa del rango 1")))
    return out


def _check_root_cause(text: str) -> list[Problem]:
    if not text.strip():
        return [_empty(4)]
    sentences = split_sentences(text)
    if len(sentences) != 1:
        quoted = " | ".join(repr(s) for s in sentences)
        return [Problem(4, "", say(f"{len(sentences)} sentences found: {quoted}; the root cause is one sentence",
                                   f"{len(sentences)} frases encontradas: {quoted}; la causa raíz es una sola frase"))]
    return []


def _check_remediation(text: str) -> list[Problem]:
    if not text.strip():
        return [_empty(5)]
    words = len(text.split())
    if words > REMEDIATION_MAX_WORDS:
        return [Problem(5, "", say(f"{words} words: the smallest change fits in {REMEDIATION_MAX_WORDS} words "
                                   "(one change, not a plan)",
                                   f"{words} palabras: el cambio más pequeño cabe en {REMEDIATION_MAX_WORDS} "
                                   "palabras (un cambio, no un plan)"))]
    return []


def _check_verification(v: Verification, symptoms: Symptoms,
                        run: postmortem_run.RunFacts = postmortem_run.RunFacts()) -> list[Problem]:
    if v.is_empty():
        return [_empty(6)]
    out = []
    seed = parse_number(v.seed, integer=True)
    if seed is None:
        out.append(Problem(6, "seed", say(f"{number_error(v.seed, integer=True)}: numbers only, the seed of the rerun",
                                          f"{number_error(v.seed, integer=True)}: solo números, la semilla de la "
                                          "nueva ejecución")))
    tol = parse_number(v.tolerance)
    if tol is None:
        out.append(Problem(6, "tolerance", say(f"{number_error(v.tolerance)}: numbers only, the tolerance ε",
                                               f"{number_error(v.tolerance)}: solo números, la tolerancia ε")))
    elif not tol > 0:
        out.append(Problem(6, "tolerance", say(f"ε = {v.tolerance.strip()} must be above 0",
                                               f"ε = {v.tolerance.strip()} debe ser mayor que 0")))
    step = parse_number(v.step, integer=True)
    if step is None:
        out.append(Problem(6, "step", say(f"{number_error(v.step, integer=True)}: numbers only, "
                                          "the step T where the check runs",
                                          f"{number_error(v.step, integer=True)}: solo números, "
                                          "el paso T donde se hace la comprobación")))
    else:
        spike = parse_number(symptoms.spike_step, integer=True)
        if spike is not None and step <= spike:
            out.append(Problem(6, "step", say(f"T = {step} is not after the spike (step {spike}): "
                                              "the rerun must pass the spike to show it is gone",
                                              f"T = {step} no está después del pico (paso {spike}): la nueva "
                                              "ejecución debe pasar el pico para mostrar que ha desaparecido")))
        elif step < 1:
            out.append(Problem(6, "step", say(f"T = {step}: the check needs at least one step",
                                              f"T = {step}: la comprobación necesita al menos un paso")))
        past_end = postmortem_run.step_problem(step, run.steps)
        if past_end:
            out.append(Problem(6, "step", past_end))
    if not v.expectations:
        out.append(Problem(6, "expectations", say("none: name at least one metric, a comparator and a value",
                                                  "ninguna: nombra al menos una métrica, un comparador y un valor")))
    for i, e in enumerate(v.expectations, start=1):
        where = say(f"expectation {i}", f"expectativa {i}")
        if not e.metric.strip():
            out.append(Problem(6, where, say("names no metric", "no nombra ninguna métrica")))
        unknown = postmortem_run.metric_problem(e.metric, run.metrics, RECOVERY_WORDS)
        if unknown:
            out.append(Problem(6, where, unknown))
        if e.comparator not in COMPARATORS:
            out.append(Problem(6, where, say(f"comparator {e.comparator!r} is not one of {' '.join(COMPARATORS)}",
                                             f"el comparador {e.comparator!r} no es uno de {' '.join(COMPARATORS)}")))
        if parse_number(e.value) is None:
            out.append(Problem(6, where, say(f"value {number_error(e.value)}: numbers only",
                                             f"valor {number_error(e.value)}: solo números")))
    return out


def _check_lesson(text: str) -> list[Problem]:
    if not text.strip():
        return [_empty(7)]
    lines = text.strip().splitlines()
    if len(lines) != 1:
        return [Problem(7, "", say(f"{len(lines)} lines: a lesson is exactly one line",
                                   f"{len(lines)} líneas: una lección es exactamente una línea"))]
    return []


def validate(pm: PostMortem, sections: Iterable[int] | None = None, *, run_log: RunLog | None = None,
             reference: Mapping | None = None) -> list[Problem]:
    """Every problem of `pm`, in section order (header first). An empty list means complete.

    `sections` restricts the check to some sections (0 = header), e.g. `sections=[3]` for the
    evidence form; the other sections still serve as context (the ranks evidence refers to).
    With the run the post-mortem is about (its `run_log`, and/or `reference`, its symptoms as
    ``utils.spikelab.symptoms.compute`` returns them), §6 also refuses a metric that is not one of the
    run's and a step T past the end of the run log (`utils.postmortem.run`).
    When the run did not recover (decided from `run_log` when given, else from §1's recovery loss),
    §1, §2 and §5 also get the template's rules for it (`utils.postmortem.nonrecovery`).
    """
    chosen = set(range(0, 8)) if sections is None else set(sections)
    run = postmortem_run.run_facts(run_log, reference) if 6 in chosen else postmortem_run.RunFacts()
    why = nonrecovery.no_recovery_reason(pm.symptoms, run_log)     # None: the run recovered
    nan_rules = {
        1: lambda: nonrecovery.check_symptoms(pm.symptoms, why),
        2: lambda: nonrecovery.check_hypotheses(pm.hypotheses, why),
        5: lambda: nonrecovery.check_remediation(pm.remediation, why),
    } if why else {}
    checks = {
        0: lambda: _check_header(pm),
        1: lambda: _check_symptoms(pm.symptoms),
        2: lambda: _check_hypotheses(pm.hypotheses),
        3: lambda: _check_evidence(pm.evidence, pm.hypotheses),
        4: lambda: _check_root_cause(pm.root_cause),
        5: lambda: _check_remediation(pm.remediation),
        6: lambda: _check_verification(pm.verification, pm.symptoms, run),
        7: lambda: _check_lesson(pm.lesson),
    }
    out: list[Problem] = []
    for n in sorted(chosen):
        out += checks[n]()
        if n in nan_rules:
            out += nan_rules[n]()
    return out


def format_problems(problems: list[Problem]) -> str:
    """Problems as text, one per line (for an Output widget or a print)."""
    return "\n".join(str(p) for p in problems)
