"""What nbval said about each code cell of a graded copy, read from pytest's junit XML, and the
one-line message a failed cell gives the learner."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from utils.course.grading.results import short
from utils.course.grading.dead_kernel import DIED, died_message
from utils.text import current, say

_ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;]*[A-Za-z]")
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")
_EXCEPTION_NAME = re.compile(r"(Error|Exception|NotDone|Interrupt|Exit|Warning)$")
_TIMEOUT = re.compile(r"Timeout of ([\d.]+) seconds exceeded")
_CELL = re.compile(r"^Cell (\d+)$")
_DEAD_KERNEL = re.compile(re.escape(DIED) + r"[^\n]*")   # utils.course.grading.dead_kernel's DeadKernelError message
_EXIT_CODE = re.compile(r"\(exit code (-?\d+)\)")
_DEAD_ON_START = "Kernel dead on test start"  # i18n: not shown (nbval's error for each cell after the kernel died)


@dataclass
class CellOutcome:
    """One code cell as nbval saw it: ``pass``, ``fail``, ``timeout``, ``after-timeout``, ``skip``,
    ``kernel died`` (this cell ended the kernel) or ``after-death`` (not run: the kernel was dead)."""

    outcome: str
    message: str = ""


def clean(text: str, tmp: str | None = None) -> str:
    """ANSI colours removed, the temporary folder hidden (reports hold no absolute paths)."""
    text = _ANSI.sub("", text)
    if tmp:
        text = text.replace(os.path.realpath(tmp), "<tmp>").replace(tmp, "<tmp>")
    return text


def failure_message(text: str) -> str:
    """The error of a failed cell from nbval's report: ``Name: message`` (last exception line).

    ``AssertionError: <message>`` gives just the assertion message (a check's message starts
    with its exercise id); a timeout gives ``timed out after T s``; the cell that ended the kernel
    gives ``the kernel died while this cell ran ...``, the cells after it ``not run: ...``.
    """
    timeout = _TIMEOUT.search(text)
    if timeout:
        seconds = f"{float(timeout.group(1)):g}"
        return say(f"timed out after {seconds} s", f"tiempo agotado tras {seconds} s")
    dead = _DEAD_KERNEL.search(text)
    if dead:
        if current() == "en":                   # the plugin's own words (it writes them in English)
            return short(dead.group(0))
        code = _EXIT_CODE.search(dead.group(0))
        return short(died_message(None if code is None else int(code.group(1))))
    if _DEAD_ON_START in text:
        return say("not run: the kernel was dead (an earlier cell ended the Python process)",
                   "sin ejecutar: el kernel estaba muerto (una celda anterior terminó el proceso de Python)")
    if "Kernel dead" in text or "Kernel died" in text:
        return say("the kernel was dead: an earlier cell ended the Python process (exit, crash or memory)",
                   "el kernel estaba muerto: una celda anterior terminó el proceso de Python (exit, un fallo o "
                   "falta de memoria)")
    lines = [line.rstrip() for line in text.strip().splitlines()]
    for start in range(len(lines) - 1, -1, -1):
        match = _EXCEPTION_LINE.match(lines[start])
        if match and _EXCEPTION_NAME.search(match.group(1)):
            name = match.group(1).rsplit(".", 1)[-1]
            rest = " ".join([match.group(2) or ""] + lines[start + 1:]).strip()
            if name == "AssertionError":
                return short(rest) if rest else say("AssertionError (the check failed, no message)",
                                                    "AssertionError (la comprobación falló, sin mensaje)")
            if name == "ExerciseNotDone":
                return say("not done: the cell still calls exercise_todo(...)",
                           "sin hacer: la celda aún llama a exercise_todo(...)")
            return short(f"{name}: {rest}" if rest else name)
    for line in lines:
        if line.startswith("Cell ") and ":" in line:
            return short(line.split(":", 1)[1])
    return short(lines[-1]) if lines else say("failed (no message)", "falló (sin mensaje)")


def parse_junit(path: Path, tmp: str | None = None) -> dict[int, CellOutcome]:
    """Per code cell (nbval's ``Cell N``), its outcome from pytest's junit XML."""
    results: dict[int, CellOutcome] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        match = _CELL.match(case.get("name", ""))
        if not match:
            continue
        number = int(match.group(1))
        failed = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        if failed is not None:
            text = clean((failed.text or "") + "\n" + failed.get("message", ""), tmp)
            body = clean(failed.text or failed.get("message", ""), tmp)
            outcome = ("timeout" if _TIMEOUT.search(text) else "kernel died" if _DEAD_KERNEL.search(text)
                       else "after-death" if _DEAD_ON_START in text else "fail")  # i18n: not shown (outcome codes)
            results[number] = CellOutcome(outcome, failure_message(body))
        elif skipped is not None:
            if skipped.get("type") == "pytest.xfail":
                results[number] = CellOutcome("after-timeout", say("an earlier cell timed out",
                                                                   "una celda anterior agotó su tiempo"))
            else:
                results[number] = CellOutcome("skip", short(skipped.get("message", say("skipped", "omitida"))))
        else:
            results[number] = CellOutcome("pass")
    return results
