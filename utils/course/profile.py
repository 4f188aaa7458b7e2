"""The learner's language, remembered with their name: ``learners/<name>/profile.json``.

The start page asks for a language (English / Español) beside the name; when the name is
remembered, the language is saved in the learner's own folder as ``{"language": "es"}``
(``save_language``). It lives there, not beside ``.course-learner``, so that the grader, which
grades a copy of each learner's folder, reads it too and writes each report in its learner's
language (``learner_language``). Every notebook says its messages in it from its first
``utils.course`` import on (``apply_learner_language``, called by ``utils/course/__init__.py``).
``COURSE_LANG`` in the environment wins over every profile (tests and CI set ``COURSE_LANG=en``).

Only the interface changes language: code, identifiers, file names, JSON keys, the notebooks'
structure and the post-mortem template's headings stay English (``utils.text``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from utils.course.learner import LearnerNameError, current_learner, learners_dir, validate_learner_name
from utils.spikelab.atomic import atomic_write
from utils.text import language_code, say, set_language

PROFILE_FILE = "profile.json"


def profile_path(name: str, root: Path | None = None) -> Path:
    """``learners/<name>/profile.json`` (``root``: another learners folder, e.g. the grader's snapshot)."""
    return (learners_dir() if root is None else Path(root)) / validate_learner_name(name) / PROFILE_FILE


def save_language(name: str, language: str) -> str:
    """Remember ``language`` ("en" or "es") as learner ``name``'s; returns the code. Other keys of the
    profile are kept. Raises ValueError for a language the course lacks, OSError when the disk refuses."""
    code = language_code(language)
    path = profile_path(name)
    profile = _read(path)
    profile["language"] = code
    atomic_write(path, json.dumps(profile, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    return code


def _read(path) -> dict:
    """The profile's keys, or {} when it is missing or unreadable (a damaged profile is never fatal)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def learner_language(name: str, root: Path | None = None) -> str:
    """The language to speak to learner ``name`` in: ``COURSE_LANG`` when set to a known language, else
    their profile's (in ``root``, default the learners folder), else English."""
    env = os.environ.get("COURSE_LANG", "").strip()
    if env:
        try:
            return language_code(env)
        except ValueError:
            pass
    try:
        return language_code(_read(profile_path(name, root)).get("language"))
    except (ValueError, LearnerNameError):
        return "en"


def apply_learner_language() -> str | None:
    """Speak the current learner's language from now on (``utils.text.set_language``); their code, or
    None (nothing changed) when there is no learner yet."""
    try:
        name = current_learner()
    except LearnerNameError:
        return None
    return set_language(learner_language(name))


def language_saved_line(name: str, language: str) -> str:
    """Save the language with the name and say so in one line (or why it could not be saved)."""
    try:
        save_language(name, language)
    except OSError as err:
        return say(f"Your language could not be saved ({err.strerror}); your name is remembered.",
                   f"No se pudo guardar tu idioma ({err.strerror}); tu nombre sí queda recordado.")
    return say("Your language, English, is remembered with your name (the grader writes your report in it).",
               "Tu idioma, español, queda recordado con tu nombre (el corrector escribe tu informe en él).")
