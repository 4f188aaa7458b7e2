"""What a post-mortem's §6 is checked against when its run is known: the run's metrics and length.

§6 names metrics and a step T. Both can only be checked against the run the post-mortem is about:

- a metric is a key of ``utils.spikelab.symptoms.compute`` (the one place the metrics are defined), so the
  names allowed are the keys of that run's computed symptoms (`RunFacts.metrics`); a key whose
  value is text or a list (``dtype``, ``unusual_tokens``) is not a number to compare;
- T is at most the number of steps of the run log (`RunFacts.steps`): the rerun's metrics are
  computed on its first T steps (``utils.postmortem.verification``), so a T past the end checks nothing.

`utils.postmortem.validation.validate(pm, run_log=..., reference=...)` uses these checks; without a run log
or its symptoms neither is checked (nothing to check against).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from utils.spikelab import symptoms
from utils.spikelab.runlog import RunLog
from utils.text import say


@dataclass(frozen=True)
class RunFacts:
    """What is known about the run: its number of steps and its computed symptoms (None: unknown)."""

    steps: int | None = None
    metrics: Mapping | None = None


def run_facts(run_log: RunLog | None = None, reference: Mapping | None = None) -> RunFacts:
    """The facts of a run: from its run log (steps, and symptoms unless `reference` gives them)
    and/or `reference`, its symptoms as ``utils.spikelab.symptoms.compute`` returns them."""
    if reference is None and run_log is not None:
        reference = symptoms.compute(run_log)
    return RunFacts(steps=None if run_log is None else len(run_log), metrics=reference)


def _is_metric(value: object, number_words: tuple[str, ...]) -> bool:
    """A number, a yes/no, missing in this run (None), or one of `number_words`: a word the run log
    writes where another run has a number (``utils.postmortem.model.RECOVERY_WORDS``)."""
    return value is None or isinstance(value, (bool, int, float)) or (
        isinstance(value, str) and value in number_words)


def metric_names(metrics: Mapping, number_words: tuple[str, ...] = ()) -> list[str]:
    """The names §6 may use, sorted: the computed symptoms that are numbers (or `number_words`)."""
    return sorted(name for name, value in metrics.items() if _is_metric(value, number_words))


def metric_problem(metric: str, metrics: Mapping | None, number_words: tuple[str, ...] = ()) -> str | None:
    """Why `metric` is not one of the run's metrics (one line naming the allowed ones), or None."""
    name = metric.strip()
    if metrics is None or not name:
        return None
    allowed = metric_names(metrics, number_words)
    if name in metrics and _is_metric(metrics[name], number_words):
        return None
    listing = say("the metrics are the keys of utils.spikelab.symptoms.compute: ",
                  "las métricas son las claves de utils.spikelab.symptoms.compute: ") + ", ".join(allowed)
    if name in metrics:
        return say(f"{name!r} is not a number in the run (it is {metrics[name]!r}); {listing}",
                   f"{name!r} no es un número en la ejecución (es {metrics[name]!r}); {listing}")
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.8)   # a typo, not a guess
    hint = say(f" (did you mean {close[0]!r}?)", f" (¿querías decir {close[0]!r}?)") if close else ""
    return say(f"no metric {name!r}{hint}; {listing}", f"no hay ninguna métrica {name!r}{hint}; {listing}")


def step_problem(step: int, steps: int | None) -> str | None:
    """Why step T = `step` is past the end of a run of `steps` steps (one line), or None."""
    if steps is None or step <= steps:
        return None
    return say(f"T = {step} is past the end of the run: its run log has {steps} steps, so T is at most "
               f"{steps} (the rerun's metrics are computed on its first T steps)",
               f"T = {step} está más allá del final de la ejecución: su registro tiene {steps} pasos, así que "
               f"T es como mucho {steps} (las métricas de la nueva ejecución se calculan en sus primeros T pasos)")
