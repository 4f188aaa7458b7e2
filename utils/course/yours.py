"""Your own numbers, printed from the run you just trained (never typed into prose).

The texts quote ranges measured over seeds and CPU kernel paths; a notebook shows the learner
the values of *their* run right beside them:

    from utils.course.yours import show
    show("your spike: loss **{loss_ratio:.1f}×** its EMA at step {spike_step}", symptoms.compute(log))

renders, as Markdown, "**Your run** · your spike: loss **4.6×** its EMA at step 312".
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from string import Formatter

from IPython.display import Markdown, display

from utils.text import say


class _Values(dict):
    """Format values that may be missing or non-finite without raising: shown as "—" / "nan"."""

    def __missing__(self, key):
        return _Missing()


class _Missing:
    def __format__(self, spec: str) -> str:
        return "—"


class _Safe(Formatter):
    def format_field(self, value, spec):
        if value is None or isinstance(value, _Missing):
            return "—"
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if isinstance(value, str) and spec:
            return value
        return super().format_field(value, spec)


def text(template: str, values: Mapping, label: str | None = None) -> str:
    """The Markdown line ``show`` displays (``{key:fmt}`` fields read from ``values``); ``label`` defaults
    to "Your run" in the learner's language."""
    label = say("Your run", "Tu ejecución") if label is None else label
    return f"**{label}** · " + _Safe().vformat(template, (), _Values(values))


def show(template: str, values: Mapping, label: str | None = None) -> None:
    """Display one Markdown line of the learner's own numbers (see the module docstring)."""
    display(Markdown(text(template, values, label)))
