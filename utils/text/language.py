"""The learner's language, and ``say``: one message written in both languages, side by side.

Every message a learner reads (a widget label, a button, a validator's complaint, a lesson
prompt, a line of the grader's report) is written once as ``say(english, spanish)`` where it is
used, so the two versions sit together and a test (``tests/test_language.py``) finds a message that
lacks its Spanish. A table of such messages kept at module level is a ``Phrasebook``: its entries are
said when read, so the table follows a language chosen after the module was imported.

Which language: a ``speaking(lang)`` block of the running thread (the grader grades each learner
in their own language, several at a time), else the language set last with ``set_language`` (the
course's tooling sets it from the learner's choice on the start page), else ``COURSE_LANG`` in the
environment, else English.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

LANGUAGES = {"en": "English", "es": "Español"}
_chosen: str | None = None
_local = threading.local()       # .lang: the language of a speaking() block in this thread


def language_code(lang: str | None) -> str:
    """``lang`` as a language code ("es", "Español" -> "es"); ValueError for a language the course lacks."""
    code = (lang or "").strip().lower()[:2]
    if code not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: choose one of {', '.join(LANGUAGES)}")
    return code


def current() -> str:
    """``"en"`` or ``"es"``: a ``speaking`` block's, else the one set last, else ``COURSE_LANG``, else English."""
    block = getattr(_local, "lang", None)
    if block is not None:
        return block
    if _chosen is not None:
        return _chosen
    env = os.environ.get("COURSE_LANG", "").strip().lower()[:2]
    return env if env in LANGUAGES else "en"


def set_language(lang: str | None) -> str:
    """Choose the language every later message is shown in; returns it. Unknown codes are refused.
    ``None`` forgets the choice (``COURSE_LANG`` or English again)."""
    global _chosen
    _chosen = None if lang is None else language_code(lang)
    return current()


@contextmanager
def speaking(lang: str | None) -> Iterator[str]:
    """Messages of this thread in ``lang`` for the block (None: unchanged); yields the language in use."""
    before = getattr(_local, "lang", None)
    _local.lang = before if lang is None else language_code(lang)
    try:
        yield current()
    finally:
        _local.lang = before


def say(en: str, es: str) -> str:
    """The message in the current language (both are written where the message is used)."""
    return es if current() == "es" else en


class Phrasebook(Mapping):
    """A module-level table of messages, said when read: ``build()`` returns the table with ``say``
    calls in it, and is called again on every lookup, so each entry is in the current language."""

    def __init__(self, build: Callable[[], dict]) -> None:
        self._build = build

    def __getitem__(self, key):
        return self._build()[key]

    def __iter__(self):
        return iter(self._build())

    def __len__(self) -> int:
        return len(self._build())

    def __repr__(self) -> str:
        return f"Phrasebook({self._build()!r})"
