"""The words of the stability check (Phase 19): its questions, and the answers it reads off the panels,
in the learner's language.

``utils.diagnosis.stability_check`` decides; this module only says what it found. Each question is an
entry of ``QUESTIONS`` (a ``Phrasebook``: said when read, so it follows a language chosen after import),
each answer a function of the numbers behind it. The English is the text the tests and the committed
notebook outputs read, word for word; the Spanish uses theory/glossary.md's terms. Pattern names
(``long-tail-token``, ``none``), dtypes and numbers are the same in both languages.
"""
from __future__ import annotations

from utils.spikelab.metrics import significant
from utils.spikelab.thresholds import BASELINE_STEPS, DAMAGE_SIGMA, EMA_SPAN, GRAD_SPIKE_ANYWHERE, SPIKE_RATIO
from utils.text import Phrasebook, say

# the questions, by the node of the tree that asks them (theory/phase-19/stability-check.md)
QUESTIONS: Phrasebook = Phrasebook(lambda: {
    "nonfinite": say("Any non-finite value (loss on panel 1, gradient norm on panel 3, parameters on panel 8)?",
                     "¿Algún valor no finito (la pérdida en el panel 1, la norma del gradiente en el panel 3, "
                     "los parámetros en el panel 8)?"),
    "first": say("Which became non-finite first: parameters, loss or gradients?",
                 "¿Qué dejó de ser finito primero: los parámetros, la pérdida o los gradientes?"),
    "stays": say("Do the parameters stay non-finite (no recovery)?",
                 "¿Siguen los parámetros sin ser finitos (sin recuperación)?"),
    "activations": say("How large were the activations just before (largest and smallest attention logit)?",
                       "¿Cómo de grandes eran las activaciones justo antes (el mayor y el menor logit de "
                       "atención)?"),
    "dtype": say("Which dtype does the run compute in?", "¿En qué dtype calcula la ejecución?"),
    "lr": say("A jump in the learning rate?", "¿Un salto en el learning rate?"),
    "loss-spike": say(f"A loss spike (loss ≥ {SPIKE_RATIO:g}× its {EMA_SPAN}-step EMA after warmup)?",
                      f"¿Un pico de pérdida (pérdida ≥ {SPIKE_RATIO:g}× su EMA de {EMA_SPAN} pasos, "
                      "tras el warmup)?"),
    "grad-spike": say(f"A gradient-norm spike (pre-clip, × median of the {BASELINE_STEPS} steps before), "
                      "before or at the loss spike?",
                      f"¿Un pico de la norma del gradiente (antes del clipping, × la mediana de los {BASELINE_STEPS} "
                      "pasos anteriores), antes del pico de pérdida o en él?"),
    "moments": say("Did the Adam moments reset (norms drop in one step)?",
                   "¿Se reiniciaron los momentos de Adam (sus normas caen en un solo paso)?"),
    "damage": say(f"Held-out damage (rise ≥ {DAMAGE_SIGMA:g}σ of its noise), with no gradient spike?",
                  f"¿Daño en la validación (subida ≥ {DAMAGE_SIGMA:g}σ de su ruido), sin pico de gradiente?"),
    "same-kind": say("A long run of consecutive same-kind batches?",
                     "¿Una racha larga de batches consecutivos del mismo tipo?"),
    "decision": say("Decision", "Decisión"),
})


def yes_no(yes: bool) -> str:
    """A bare yes or no."""
    return say("yes", "sí") if yes else "no"


# ---------------------------------------------------------------- the non-finite branch
def first_nonfinite(first: str, step: int, later: list[tuple[str, int]]) -> str:
    """Which series (``"loss"``, ``"grads"``, ``"params"``) went non-finite first, at ``step``, and the
    others after it (``later``: (series, step) pairs)."""
    words = {"loss": say("the loss (a forward pass overflowed)", "la pérdida (desbordó un forward)"),
             "grads": say("the gradients (the backward pass overflowed; the loss was still finite)",
                          "los gradientes (desbordó el backward; la pérdida aún era finita)"),
             "params": say("the parameters (an update wrote nan/inf while loss and gradients were finite)",
                           "los parámetros (una actualización escribió nan/inf con la pérdida y los gradientes "
                           "finitos)")}
    short = {"loss": say("loss", "pérdida"), "grads": say("grads", "gradientes"),
             "params": say("params", "parámetros")}
    then = [say(f"{short[n]} at step {s}", f"{short[n]} en el paso {s}") for n, s in later]
    return say(f"{words[first]}, at step {step}", f"{words[first]}, en el paso {step}") + \
        (say(f"; then {', '.join(then)}", f"; después, {', '.join(then)}") if then else "")


def parameters_stay(params_bad: bool, recovered: bool, n_grad: int, finite_after: int, n_after: int,
                    step: int) -> str:
    """Whether the parameters stay non-finite; when they never were, what happened to the bad updates."""
    if params_bad:
        return (say("no: the non-finite parameter count never returns to 0",
                    "no: el recuento de parámetros no finitos nunca vuelve a 0") if not recovered
                else say("yes: the parameters became finite again", "sí: los parámetros volvieron a ser finitos"))
    return say(f"they never held nan/inf: the {n_grad} updates with non-finite gradients were not applied "
               f"(skipped); {finite_after} of the {n_after} losses from step {step} on are finite",
               f"nunca contuvieron nan/inf: las {n_grad} actualizaciones con gradientes no finitos no se aplicaron "
               f"(se saltaron); {finite_after} de las {n_after} pérdidas desde el paso {step} son finitas")


def activations(at: int, high: list, low: list | None) -> str:
    """The largest (and, if logged, smallest) attention logit at steps ``at - 1`` and ``at``."""
    a, b = significant(high[at - 1]), significant(high[at])
    text = say(f"largest {a} at step {at - 1}, {b} at step {at}",
               f"el mayor {a} en el paso {at - 1}, {b} en el paso {at}")
    if low:
        a, b = significant(low[at - 1]), significant(low[at])
        text += say(f"; smallest {a} at step {at - 1}, {b} at step {at}",
                    f"; el menor {a} en el paso {at - 1}, {b} en el paso {at}")
    return text


def dtype_range(dtype: str, fp16: bool) -> str:
    """The dtype and the range it can hold (the non-finite branch's dtype question)."""
    if fp16:
        return f"{dtype}: " + say("largest finite value 65504, a value beyond ±65504 overflows to ±inf",
                                  "el mayor valor finito es 65504; un valor más allá de ±65504 desborda a ±inf")
    return f"{dtype}: " + say("the float32 exponent range (largest ≈ 3.4e38)",
                              "el rango de exponentes de float32 (el mayor ≈ 3.4e38)")


def nonfinite_rule() -> str:
    """How the non-finite branch decides (the decision's ``rule``)."""
    return say("non-finite values decide first: float16 → fp16-overflow, otherwise nan-non-recovery; "
               "runner-up from the steps before",
               "los valores no finitos deciden primero: float16 → fp16-overflow, si no nan-non-recovery; "
               "el runner-up sale de los pasos anteriores")


# ---------------------------------------------------------------- the finite branch
def lr_answer(jump: dict, held: dict | None, damage: bool, crossed: bool) -> str:
    """The learning-rate question: the largest one-step LR ratio and, past the line, what followed it."""
    factor = significant(jump["factor"], 3)
    if not crossed:
        return say(f"no: the largest one-step change is ×{factor}", f"no: el mayor cambio de un paso es ×{factor}")
    sigma = significant(held["sigma"], 3) if held else None
    return say(f"yes: ×{factor} at step {jump['step']}", f"sí: ×{factor} en el paso {jump['step']}") + (
        say(f", and the held-out loss rises {sigma}σ after it",
            f", y la pérdida de validación sube {sigma}σ después")
        if damage else say(", but the loss does not get worse after it", ", pero la pérdida no empeora después"))


def loss_spike_answer(step: int | None) -> str:
    """The loss-spike question: from which step, if any."""
    return say(f"yes, from step {step}", f"sí, desde el paso {step}") if step is not None else "no"


def grad_spike_answer(g: dict, spike: bool, loss_spike: int | None) -> str:
    """The gradient-norm question: how far above its median, when against the loss spike, and where."""
    ratio = significant(g["ratio"], 3)
    if not spike:
        return say(f"no: the largest is ×{ratio} its median (line ×{GRAD_SPIKE_ANYWHERE:g})",
                   f"no: el mayor es ×{ratio} su mediana (línea ×{GRAD_SPIKE_ANYWHERE:g})")
    when = (say("no loss spike", "sin pico de pérdida") if loss_spike is None else
            say("before the loss spike", "antes del pico de pérdida") if g["step"] < loss_spike else
            say("at the loss spike", "en el pico de pérdida") if g["step"] == loss_spike else
            say("after the loss spike began", "después de empezar el pico de pérdida"))
    if g["rare_share"] is not None:
        share = significant(100 * g["rare_share"], 3)
        where = say(f"{share} % of its square in the rare pieces' embedding rows",
                    f"el {share} % de su cuadrado en las filas de embedding de las piezas raras")
    else:
        where = say("rare-row share unknown", "fracción en las filas raras desconocida")
    return say(f"yes: ×{ratio} its median at step {g['step']} ({when}); {where}",
               f"sí: ×{ratio} su mediana en el paso {g['step']} ({when}); {where}")


def moments_answer(md: dict, reset: bool) -> str:
    """The Adam-moments question: the largest one-step drop of the moments' norms."""
    v = significant(md["v_factor"], 3)
    if not reset:
        return say(f"no: the largest one-step drop of the second-moment norm is ×{v}",
                   f"no: la mayor caída de un paso de la norma del segundo momento es ×{v}")
    m = significant(md["m_factor"], 3)
    return say(f"yes: at step {md['step']} the second-moment norm falls ×{v} and the first-moment norm ×{m}",
               f"sí: en el paso {md['step']} la norma del segundo momento cae ×{v} y la del primer momento ×{m}")


def damage_answer(h: dict, damaged: bool, with_spike: bool) -> str:
    """The held-out question: the rise in σ of its noise, and whether a gradient spike came with it."""
    if not damaged:
        return say("no held-out damage", "sin daño en la validación")
    before, peak, sigma = significant(h["before"], 3), significant(h["peak"], 3), significant(h["sigma"], 3)
    return say(f"damage: held-out {before} → {peak} at step {h['peak_step']} ({sigma}σ)",
               f"daño: validación {before} → {peak} en el paso {h['peak_step']} ({sigma}σ)") + (
        say(", with a gradient spike too", ", también con un pico de gradiente") if with_spike
        else say(", with no gradient spike", ", sin pico de gradiente"))


def same_kind_answer(run: dict, long_enough: bool) -> str:
    """The batch-composition question: the longest run of consecutive rare-kind batches."""
    if not long_enough:
        return say(f"no: the longest is {run['length']}", f"no: la más larga es de {run['length']}")
    return say(f"yes: {run['length']} batches of rare-kind examples only, steps {run['start']}–{run['end']}",
               f"sí: {run['length']} batches solo de ejemplos de tipo raro, pasos {run['start']}–{run['end']}")


# ---------------------------------------------------------------- the decision and the printout
def decision(pattern: str, runner: str, both: list[tuple[str, float]] | None = None, why_none: bool = True) -> str:
    """The verdict: the pattern (with ``why_none``, ``none`` says why), the runner-up, and, when two
    patterns cross their lines, each one's multiple of its line (``both``: (pattern, score) pairs)."""
    named = say("none: no spike found that matches a pattern",
                "none: no se encontró ningún pico que encaje con un patrón") if pattern == "none" and why_none \
        else pattern
    text = named + say(f"; runner-up {runner}", f"; runner-up: {runner}")
    if both:
        (p0, s0), (p1, s1) = both[0], both[1]
        s0, s1 = significant(s0, 3), significant(s1, 3)
        text += say(f" (both cross their lines: {p0} ×{s0} its line, {p1} ×{s1})",
                    f" (los dos cruzan su línea: {p0} ×{s0} su línea, {p1} ×{s1})")
    return text


def score_rule() -> str:
    """How the finite branch decides (the decision's ``rule``)."""
    return say("score = signal ÷ its alarm line; the pattern is the top score if ≥ 1",
               "puntuación = señal ÷ su línea de alarma; el patrón es la mayor puntuación si es ≥ 1")


def heading(run_id: str) -> str:
    """The first line of the printout."""
    return say(f"stability check of run {run_id}", f"comprobación de estabilidad de la ejecución {run_id}")


def where_read(panel: int | None) -> str:
    """Where an answer was read: its dashboard panel, or the verdict."""
    return f"panel {panel}" if panel is not None else say("verdict", "veredicto")


def verdict_line(pattern: str, runner: str) -> str:
    """The last line of the printout."""
    return say(f"pattern: {pattern}   runner-up: {runner}", f"patrón: {pattern}   runner-up: {runner}")


def usage_error() -> str:
    """The command line's complaint when it gets both a log and a variant, or neither."""
    return say("error: give a run log path or --variant NAME (one of them)",
               "error: indica la ruta de un registro de ejecución o --variant NAME (uno de los dos)")
