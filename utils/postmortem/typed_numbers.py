"""Numbers as a learner types them into a form: "312", "3.15", "3e-4", and the decimal comma "2,31".

Spanish (and most of Europe) writes the decimal separator as a comma, so a number with one comma
between digits and no point ("2,31", "-0,5", "1,037") is read as a decimal: 2.31, -0.5, 1.037.
Anything else with a comma is refused, because it could be a thousands separator and a wrong
reading would go unnoticed: "1,234,5" (two commas), "1.234,5" (a point and a comma), and any
comma in a whole number ("1,000" for a step). `number_error` says why, in one line, so that a
form can tell the learner it is the comma and not the number.

`parse_int_list` reads a list of whole numbers ("3, 5": the panels and ranks of §2 and §3) the same way.
"""

from __future__ import annotations

import math
import re
from typing import Iterable

from utils.text import say

_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# A decimal comma: one comma with digits after it (and no point anywhere), e.g. "2,31", ",5", "3,1e-4".
_COMMA_FLOAT_RE = re.compile(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?")
_NONFINITE = {"nan": math.nan, "inf": math.inf, "+inf": math.inf, "-inf": -math.inf}


def parse_number(text: str, *, integer: bool = False, allow_nonfinite: bool = False) -> float | int | None:
    """The number written in `text`, or None when it is not exactly a number.

    Accepts "312", "-2", "3.15", ".5", "1e-8", "3E-4", the decimal comma "3,15" (3.15; not for
    `integer`), and "nan", "inf", "-inf" when `allow_nonfinite`. Refuses prose ("about 3"),
    units ("3 steps"), "1_000" and thousands-like commas ("1,234,5", "1.234,5"); `number_error`
    says why.
    """
    t = text.strip()
    if integer:
        return int(t) if _INT_RE.fullmatch(t) else None
    if _FLOAT_RE.fullmatch(t):
        return float(t)
    if _COMMA_FLOAT_RE.fullmatch(t):
        return float(t.replace(",", "."))
    if allow_nonfinite and t.lower() in _NONFINITE:
        return _NONFINITE[t.lower()]
    return None


def read_with_comma(text: str) -> bool:
    """True when `text` is a number that `parse_number` read with a decimal comma ("2,31")."""
    return bool(_COMMA_FLOAT_RE.fullmatch(text.strip()))


def comma_error(text: str, *, integer: bool = False) -> str | None:
    """Why the comma in `text` stops it being a number (one line), or None when that is not the reason."""
    t = text.strip()
    if "," not in t:
        return None
    if integer:
        return say(f"{t!r} has a comma: a whole number is written without one (312, not 1,312 or 312,0)",
                   f"{t!r} tiene una coma: un número entero se escribe sin ella (312, no 1,312 ni 312,0)")
    if parse_number(t) is not None:
        return None
    commas = t.count(",")
    if commas > 1:
        return say(f"{t!r} has {commas} commas: write one decimal separator and no thousands separator "
                   "(2.31 or 2,31)",
                   f"{t!r} tiene {commas} comas: escribe un solo separador decimal y ningún separador de miles "
                   "(2.31 o 2,31)")
    if "." in t:
        return say(f"{t!r} has both '.' and ',': write one decimal separator and no thousands separator "
                   "(1234.5 or 1234,5)",
                   f"{t!r} tiene '.' y ',': escribe un solo separador decimal y ningún separador de miles "
                   "(1234.5 o 1234,5)")
    if _COMMA_FLOAT_RE.fullmatch(t.replace(" ", "")) or _FLOAT_RE.fullmatch(t.replace(",", "")):
        return say(f"the comma in {t!r} is not a decimal comma between digits: write 2,31 or 2.31, without spaces",
                   f"la coma de {t!r} no es una coma decimal entre cifras: escribe 2,31 o 2.31, sin espacios")
    return None


def number_error(text: str, *, integer: bool = False, what: str = "") -> str:
    """One line saying why `text` is not a number: the comma when it is the problem, else what is wanted.

    `what` names what is wanted ("a whole number", "the seed of the rerun", ...); it defaults to
    "a whole number" or "a number".
    """
    t = text.strip()
    if not t:
        return say("empty", "vacío")
    wanted = what or (say("a whole number", "un número entero") if integer else say("a number", "un número"))
    return comma_error(t, integer=integer) or say(f"{t!r} is not {wanted}", f"{t!r} no es {wanted}")


def parse_int_list(text: str) -> list[int]:
    """"3, 5" -> [3, 5]; "" -> []. Raises ValueError naming the first item that is not a whole number."""
    items = [part.strip() for part in re.split(r"[,\s]+", text.strip()) if part.strip()]
    out = []
    for item in items:
        number = parse_number(item, integer=True)
        if number is None:
            raise ValueError(say(f"{item!r} is not a whole number; write numbers like 3, 5",
                                 f"{item!r} no es un número entero; escribe números como 3, 5"))
        out.append(number)
    return out


def format_int_list(values: Iterable[int]) -> str:
    """[3, 5] -> "3, 5" (the inverse of `parse_int_list`)."""
    return ", ".join(str(v) for v in values)
