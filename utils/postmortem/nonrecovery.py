"""The template's rules for a spike that does not recover (a NaN run), used by the validator.

A run whose loss or parameters are still non-finite at its last step never came back: every update
after the first bad one reads NaN weights. Its post-mortem must then say three things:

- §1 ends "did not recover": its recovery loss is written 'did not recover' or 'NaN', not a number;
- §2 includes the hypothesis that a destructive update wrote a NaN into a parameter;
- §5 reverts to the last NaN-free checkpoint (weights that hold NaN cannot train on).

Whether the run did not recover is read from its run log when there is one (`ended_nonfinite`),
else from §1 (recovery loss 'did not recover' or 'NaN'). §2 and §5 are prose, in English or
Spanish, so they are recognised by words (`NAN_WORDS` with `PARAMETER_WORDS`; `CHECKPOINT_WORDS`
with `REVERT_WORDS`); the messages name the accepted wordings.
"""

from __future__ import annotations

import re

from utils.postmortem.model import Hypothesis, Problem, Symptoms, recovery_word
from utils.postmortem.typed_numbers import parse_number
from utils.spikelab.metrics import finite
from utils.spikelab.runlog import RunLog
from utils.text import say

# What §1's recovery loss says for a run that did not recover (two of `model.RECOVERY_WORDS`).
NO_RECOVERY_WORDS: tuple[str, ...] = ("did not recover", "NaN")  # i18n: not shown (the template's words)

# The accepted wordings, as the messages and the theory text list them, and the patterns that
# read them (whole words, any case; accents optional). Both languages' words are accepted, and listed, in
# every message: they are the words the checker reads, not words of the interface.
NAN_WORDS = "'NaN' (or 'non-finite', 'no finito')"  # i18n: not shown (words the checker reads)
PARAMETER_WORDS = "'parameter' or 'weight' ('parámetro', 'peso')"  # i18n: not shown (words the checker reads)
NAN_WORDS_ES = "'NaN' (o 'non-finite', 'no finito')"  # i18n: not shown (the same words, joined in Spanish)
PARAMETER_WORDS_ES = "'parameter' o 'weight' ('parámetro', 'peso')"  # i18n: not shown (the same words, joined in Spanish)
CHECKPOINT_WORDS = "'checkpoint' ('punto de control')"  # i18n: not shown (words the checker reads)
REVERT_WORDS = ("'revert', 'roll back', 'restore', 'reload', 'go back' "  # i18n: not shown (words the checker reads)
                "('volver', 'restaurar', 'revertir', 'recargar')")

_NAN = re.compile(r"\bnans?\b|\bnon-?\s?finite\b|\bno\s+finit[oa]s?\b", re.IGNORECASE)
_PARAMETER = re.compile(r"\b(?:parameters?|params?|weights?|par[aá]metros?|pesos?)\b", re.IGNORECASE)
_CHECKPOINT = re.compile(r"\bcheck[\s-]?points?\b|\bpuntos?\s+de\s+control\b", re.IGNORECASE)
_REVERT = re.compile(
    r"\b(?:revert\w*|roll(?:s|ed|ing)?[\s-]*back\w*|restor\w*|reload\w*|(?:go|goes|going|went)\s+back"
    r"|volv\w*|vuelv\w*|restaur\w*|reviert\w*|recarg\w*|retroced\w*)\b", re.IGNORECASE)


def ended_nonfinite(log: RunLog) -> bool:
    """True when the run log's last step has a non-finite loss or non-finite parameters (panel 8)."""
    loss = log.steps.get("loss") or []
    params = [n for n in log.steps.get("nonfinite_params") or [] if n is not None]
    return bool(loss and not finite(loss[-1])) or bool(params and params[-1] > 0)


def no_recovery_reason(symptoms: Symptoms, run_log: RunLog | None = None) -> str | None:
    """Why the run did not recover (the phrase the messages quote), or None when it recovered.

    The run log decides when it is given; without it, §1's recovery loss does.
    """
    if run_log is not None:
        return say("its run log ends with a non-finite loss or non-finite parameters",
                   "su registro termina con una pérdida o unos parámetros no finitos") if ended_nonfinite(run_log) else None
    if recovery_word(symptoms.recovery_loss) in NO_RECOVERY_WORDS:
        return say(f"§1 says its recovery loss is {symptoms.recovery_loss.strip()!r}",
                   f"§1 dice que su pérdida de recuperación es {symptoms.recovery_loss.strip()!r}")
    return None


def names_nan_in_parameter(text: str) -> bool:
    """True when `text` says a NaN got into a parameter: a NaN word and a parameter word."""
    return bool(_NAN.search(text) and _PARAMETER.search(text))


def reverts_to_checkpoint(text: str) -> bool:
    """True when `text` goes back to a checkpoint: a checkpoint word and a revert word."""
    return bool(_CHECKPOINT.search(text) and _REVERT.search(text))


def check_symptoms(s: Symptoms, reason: str) -> list[Problem]:
    """§1 of a run that did not recover: its recovery loss is 'did not recover' or 'NaN'.

    Text that is neither a number nor a recovery word is left to the §1 check ("numbers only").
    """
    text = s.recovery_loss.strip()
    word = recovery_word(text)
    if not text or word in NO_RECOVERY_WORDS:
        return []
    if word is None and parse_number(text, allow_nonfinite=True) is None:
        return []
    return [Problem(1, "recovery_loss", say(f"{text!r}, but the run did not recover ({reason}): §1 must end "
                                            "'did not recover', so write 'did not recover' or 'NaN' here",
                                            f"{text!r}, pero la ejecución no se recuperó ({reason}): §1 debe "
                                            "terminar en 'did not recover', así que escribe aquí 'did not "
                                            "recover' o 'NaN'"))]


def check_hypotheses(hyps: list[Hypothesis], reason: str) -> list[Problem]:
    """§2 of a run that did not recover: one hypothesis says a destructive update wrote a NaN into a parameter."""
    if not hyps or any(names_nan_in_parameter(h.text) for h in hyps):
        return []
    return [Problem(2, "", say(f"no hypothesis says that a destructive update wrote a NaN into a parameter: the run "
                               f"did not recover ({reason}), and a NaN that never goes away starts with the update "
                               f"that first wrote one into the weights (panel 8); rank that hypothesis, naming "
                               f"{NAN_WORDS} and {PARAMETER_WORDS}",
                               f"ninguna hipótesis dice que una actualización destructiva escribió un NaN en un "
                               f"parámetro: la ejecución no se recuperó ({reason}), y un NaN que nunca desaparece "
                               f"empieza con la actualización que escribió el primero en los pesos (panel 8); "
                               f"ordena esa hipótesis, nombrando {NAN_WORDS_ES} y {PARAMETER_WORDS_ES}"))]


def check_remediation(text: str, reason: str) -> list[Problem]:
    """§5 of a run that did not recover: it reverts to the last NaN-free checkpoint."""
    if not text.strip() or reverts_to_checkpoint(text):
        return []
    return [Problem(5, "", say(f"does not revert to the last NaN-free checkpoint: the run did not recover ({reason}), "
                               f"and weights that hold NaN cannot train on; name the {CHECKPOINT_WORDS} and going "
                               f"back to it: {REVERT_WORDS}",
                               f"no vuelve al último checkpoint sin NaN: la ejecución no se recuperó "
                               f"({reason}), y unos pesos con NaN no pueden seguir entrenando; nombra el "
                               f"{CHECKPOINT_WORDS} y la vuelta a él: {REVERT_WORDS}"))]
