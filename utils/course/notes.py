"""The one way to reach a learner's notes: ``learners/<name>/phase-NN/notes/``.

Two kinds of notes:

- ``lessons.md``: one line per lesson learned, only ever appended to::

      - 2026-11-23 · phase 19 · run 19-spike-001 · warmup too short for lr 3e-3
      - 2026-12-06 · phase 19 · notebook 19.02 dashboard · read panel 6 before blaming a token

  The ``run`` part names the run a post-mortem's lesson is about, the ``notebook`` part the
  notebook whose lesson box wrote it (``utils.course.lessons`` says which lessons a learner
  owes); either may be left out. ``append_lesson`` adds one line atomically (file lock + a
  single write), so several notebooks or processes appending at once never mix or lose lines;
  ``parse_lesson`` reads a line back into its parts.
- record files such as ``answers.jsonl`` (one JSON object per line: each Check of a choice
  question, ``utils.course.choice``): ``append_record`` appends with the same guarantees as
  ``append_lesson``; ``read_records`` reads them back and leaves out a torn last line.
- any other file (a post-mortem, a checklist): ``save_note`` writes it, and never loses
  what was there: a different earlier version is first kept as ``<stem>.v1<suffix>``,
  ``.v2``, ... (``note_versions`` lists them).

``display_path`` turns a path into the ``learners/<name>/...`` form for printing, so a notebook
never shows an absolute path (which would differ on every machine). It and ``learner_dir`` are
defined in ``utils.course.learner`` (they are about the learner's folder, not the notes) and
importable from here too.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import re
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterator

from utils.course.learner import display_path, learner_dir
from utils.spikelab.atomic import atomic_write
from utils.text import current, say

LESSONS_FILE = "lessons.md"
LOCK_FILE = ".notes.lock"
_VERSION_STEM = re.compile(r"\.v\d+$")
# The notebook part of a lesson line: "19.02" (phase.notebook), optionally followed by the notebook's name.
NOTEBOOK_TAG = re.compile(r"\d{2}\.\d{2}(?: [A-Za-z0-9_-]+)?")
_LESSON_LINE = re.compile(r"- (\d{4}-\d{2}-\d{2}) · phase (\d{1,2})(?: · run (\S+))?"
                          r"(?: · notebook (\d{2}\.\d{2})(?: [A-Za-z0-9_-]+)?)? · (.+)")


def _check_phase(phase: int) -> int:
    """Return ``phase`` if it is a whole number 0..99, else raise ValueError."""
    if isinstance(phase, bool) or not isinstance(phase, int):
        raise ValueError(say(f"phase must be a whole number 0..99, not {phase!r}.",
                             f"la fase debe ser un número entero de 0 a 99, no {phase!r}."))
    if not 0 <= phase <= 99:
        raise ValueError(say(f"phase must be between 0 and 99, not {phase}.",
                             f"la fase debe estar entre 0 y 99, no {phase}."))
    return phase


def _notes_path(phase: int, learner: str | None) -> Path:
    """``learners/<name>/phase-NN/notes/`` without creating it."""
    return learner_dir(learner) / f"phase-{_check_phase(phase):02d}" / "notes"


def notes_dir(phase: int, learner: str | None = None) -> Path:
    """The notes folder ``learners/<name>/phase-NN/notes/`` of one phase, created if missing.

    ``phase`` is 0..99 (written with two digits); ``learner`` defaults to the current learner.
    """
    path = _notes_path(phase, learner)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_one_line(what: str, value: str) -> str:
    """Return ``value`` stripped of spaces; refuse empty values and line breaks or control chars.
    ``what`` names the value with its article, in the current language ("The lesson text")."""
    if not isinstance(value, str):
        raise ValueError(say(f"{what} must be text, not {type(value).__name__}.",
                             f"{what} debe ser texto, no {type(value).__name__}."))
    for char in value:
        category = unicodedata.category(char)
        if category.startswith("C") or category in ("Zl", "Zp"):
            if char in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029":
                kind = say("a line break", "un salto de línea")
            else:
                kind = say("a control character", "un carácter de control")
            raise ValueError(say(
                f"{what} contains {kind} (U+{ord(char):04X}); a lesson is exactly one line "
                "of text. Write several lessons as several append_lesson calls.",
                f"{what} contiene {kind} (U+{ord(char):04X}); una lección es exactamente una línea "
                "de texto. Escribe varias lecciones con varias llamadas a append_lesson."))
    cleaned = value.strip()
    if not cleaned:
        raise ValueError(say(f"{what} is empty; write what you learned in one line.",
                             f"{what} está vacío; escribe en una línea lo que has aprendido."))
    return cleaned


def _reason(err: OSError) -> str:
    """Why the system refused a write, in the learner's language for the usual causes (the system's
    own words otherwise)."""
    known = {
        errno.ENOSPC: say("No space left on device", "no queda espacio en el disco"),
        errno.EDQUOT: say("Disk quota exceeded", "se ha superado la cuota de disco"),
        errno.EACCES: say("Permission denied", "permiso denegado"),
        errno.EPERM: say("Operation not permitted", "operación no permitida"),
        errno.EROFS: say("Read-only file system", "el sistema de archivos es de solo lectura"),
    }
    if current() == "en" or err.errno not in known:
        return str(err.strerror or err)
    return known[err.errno]


def append_lesson(
    phase: int,
    text: str,
    run_id: str | None = None,
    learner: str | None = None,
    today: datetime.date | None = None,
    notebook: str | None = None,
) -> str:
    """Append one line to the phase's ``lessons.md`` and return it (without the newline).

    The line reads ``- 2026-11-23 · phase 19 · run 19-spike-001 · <text>`` (the run part
    is left out when ``run_id`` is None); with ``notebook`` (``"19.02 dashboard"``: the
    notebook's number and name, see ``utils.course.lessons``) a part ``notebook 19.02 dashboard``
    comes after the run part. ``text`` must be one non-empty line. Earlier
    lines are never rewritten: the file is opened for appending, locked (``flock``), and
    the whole line goes out in one write, then synced to disk. If the last line in the file
    lacks its newline, one is written first so the new lesson never merges into it.
    """
    _check_phase(phase)
    body = _check_one_line(say("The lesson text", "El texto de la lección"), text)
    parts = [f"- {(today or datetime.date.today()).isoformat()}", f"phase {phase}"]
    if run_id is not None:
        run = _check_one_line(say("The run id", "El id de la ejecución"), run_id)
        if any(char.isspace() for char in run):
            raise ValueError(say(f"The run id {run!r} contains a space; run ids look like 19-spike-001.",
                                 f"El id de la ejecución {run!r} contiene un espacio; los ids de ejecución "
                                 "son como 19-spike-001."))
        parts.append(f"run {run}")
    if notebook is not None:
        if not isinstance(notebook, str) or not NOTEBOOK_TAG.fullmatch(notebook):
            raise ValueError(say(f"The notebook {notebook!r} is not a notebook tag; tags look like '19.02 dashboard'.",
                                 f"El cuaderno {notebook!r} no es una etiqueta de cuaderno; las etiquetas son como "
                                 "'19.02 dashboard'."))
        parts.append(f"notebook {notebook}")
    parts.append(body)
    line = " · ".join(parts)

    _append_line(notes_dir(phase, learner) / LESSONS_FILE, line, say("The lesson", "La lección"))
    return line


def _append_line(path: Path, line: str, what: str) -> None:
    """Append ``line`` and a newline to ``path``: locked (``flock``), in one write, synced to disk.

    If the file's last line lacks its newline (a torn line), one is written first so the new line
    never merges into it. A failed write (e.g. a full disk) truncates the file back to its size
    before, so it is left as it was, and raises NoteNotSaved naming ``what``.
    """
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            needs_newline = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
            data = (("\n" if needs_newline else "") + line + "\n").encode("utf-8")
            try:
                written = os.write(fd, data)
                while written < len(data):  # a regular file takes it all at once; this is a guard
                    written += os.write(fd, data[written:])
                os.fsync(fd)
            except OSError as err:
                os.ftruncate(fd, size)      # a failed append (e.g. a full disk) leaves no torn line
                raise NoteNotSaved(say(f"{what} was not saved ({_reason(err)}); "
                                       f"{display_path(path)} is unchanged. Free some disk space and try again.",
                                       f"{what} no se ha guardado ({_reason(err)}); {display_path(path)} no ha "
                                       "cambiado. Libera espacio en el disco y vuelve a intentarlo.")) from err
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def append_record(phase: int, name: str, record: dict, learner: str | None = None) -> str:
    """Append ``record`` as one JSON line to ``<notes folder>/<name>`` (a ``.jsonl`` file such as
    ``answers.jsonl``, only ever appended to) with the guarantees of ``append_lesson``: locked, one
    write, a failed append leaves the file as it was. Returns the line written (without its newline)."""
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]*\.jsonl", name):
        raise ValueError(say(f"A record file is named like 'answers.jsonl', not {name!r}.",
                             f"Un archivo de registros se llama como 'answers.jsonl', no {name!r}."))
    if not isinstance(record, dict):
        raise ValueError(say(f"A record is a dict, not {type(record).__name__}.",
                             f"Un registro es un dict, no {type(record).__name__}."))
    line = json.dumps(record, ensure_ascii=False, sort_keys=True)   # one line: json escapes line breaks
    _append_line(notes_dir(phase, learner) / name, line, say("The answer", "La respuesta"))
    return line


def read_records(phase: int, name: str, learner: str | None = None) -> list[dict]:
    """The records of ``<notes folder>/<name>`` in the order written; [] if none. A line that is not a
    JSON object (a torn last line after a crash, a line typed by hand) is left out."""
    path = _notes_path(phase, learner) / name
    try:
        content = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    records = []
    for line in content.split("\n"):
        try:
            value = json.loads(line) if line.strip() else None
        except ValueError:
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


def read_lessons(phase: int, learner: str | None = None) -> list[str]:
    """The lines of the phase's ``lessons.md`` (without newlines, blank lines skipped); [] if none."""
    path = _notes_path(phase, learner) / LESSONS_FILE
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [line for line in content.split("\n") if line.strip()]


@dataclass(frozen=True)
class LessonLine:
    """One line of ``lessons.md`` read back (``parse_lesson``): its date, phase, run (or None),
    notebook number such as ``"19.02"`` (or None) and the lesson's text."""

    date: str
    phase: int
    run: str | None
    notebook: str | None
    text: str


def parse_lesson(line: str) -> LessonLine | None:
    """The parts of one ``lessons.md`` line as ``append_lesson`` writes it; None for any other line
    (a line typed by hand in another form, a torn line)."""
    match = _LESSON_LINE.fullmatch(line.strip())
    if match is None:
        return None
    date, phase, run, notebook, text = match.groups()
    return LessonLine(date, int(phase), run, notebook, text.strip())


def _check_relpath(relpath: str) -> PurePosixPath:
    """Return ``relpath`` as a relative path inside the notes folder, or raise ValueError."""
    if not isinstance(relpath, str) or not relpath.strip():
        raise ValueError(say("The note's path is empty; give one like 'postmortems/19-spike-001.md'.",
                             "La ruta de la nota está vacía; da una como 'postmortems/19-spike-001.md'."))
    if "\\" in relpath:
        raise ValueError(say(f"The note's path {relpath!r} contains '\\'; separate folders with '/'.",
                             f"La ruta de la nota {relpath!r} contiene '\\'; separa las carpetas con '/'."))
    if PurePosixPath(relpath).is_absolute() or PureWindowsPath(relpath).drive:
        raise ValueError(say(
            f"The note's path {relpath!r} is absolute; give a path inside the notes folder, "
            "like 'postmortems/19-spike-001.md'.",
            f"La ruta de la nota {relpath!r} es absoluta; da una ruta dentro de la carpeta de notas, "
            "como 'postmortems/19-spike-001.md'."))
    parts = relpath.split("/")
    for part in parts:
        if part == "":
            raise ValueError(say(f"The note's path {relpath!r} has an empty part ('//' or a trailing '/').",
                                 f"La ruta de la nota {relpath!r} tiene una parte vacía ('//' o una '/' al final)."))
        if part in (".", ".."):
            raise ValueError(say(f"The note's path {relpath!r} contains {part!r}; it must stay inside the notes folder.",
                                 f"La ruta de la nota {relpath!r} contiene {part!r}; debe quedarse dentro de la "
                                 "carpeta de notas."))
        if part.startswith("."):
            raise ValueError(say(f"The note's path {relpath!r} has a part starting with a dot ({part!r}).",
                                 f"La ruta de la nota {relpath!r} tiene una parte que empieza por un punto ({part!r})."))
        if any(unicodedata.category(char).startswith("C") for char in part):
            raise ValueError(say(f"The note's path {relpath!r} contains a control character.",
                                 f"La ruta de la nota {relpath!r} contiene un carácter de control."))
    path = PurePosixPath(*parts)
    if _VERSION_STEM.search(path.stem):
        raise ValueError(say(
            f"The note's name {path.name!r} ends like a kept version (.vN); those names are "
            "reserved for the old versions save_note keeps.",
            f"El nombre de la nota {path.name!r} termina como una versión guardada (.vN); esos nombres "
            "están reservados para las versiones antiguas que guarda save_note."))
    return path


def _version_path(target: Path, number: int) -> Path:
    """``<stem>.v<number><suffix>`` beside ``target``."""
    return target.with_name(f"{target.stem}.v{number}{target.suffix}")


def _versions_of(target: Path) -> list[tuple[int, Path]]:
    """The kept versions of ``target`` as (number, path), oldest (lowest number) first."""
    pattern = re.compile(re.escape(target.stem) + r"\.v(\d+)" + re.escape(target.suffix) + "$")
    if not target.parent.is_dir():
        return []
    found = []
    for child in target.parent.iterdir():
        match = pattern.match(child.name)
        if match and child.is_file():
            found.append((int(match.group(1)), child))
    return sorted(found)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<folder>/.notes.lock`` for the duration of the block."""
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class NoteNotSaved(OSError):
    """A note or lesson could not be written (e.g. a full disk); nothing on disk was changed."""


def save_note(phase: int, relpath: str, content: str | bytes, learner: str | None = None) -> Path:
    """Save ``content`` (text, stored as UTF-8, or bytes such as a compressed run log) as
    ``<notes folder>/<relpath>`` without ever losing an earlier version.

    ``relpath`` is relative, like ``postmortems/19-spike-001.md`` (no absolute paths, no
    ``..``, no empty parts). If the file holds the same content already, nothing happens.
    If it holds different content, that content is first kept as ``<stem>.v1<suffix>``
    (then ``.v2``, ... : the next free number), and only then is the new content put in
    place atomically (written to a temporary file beside it, then renamed over it). All of
    this happens under a lock, so two saves at once cannot lose a version. Returns the path.
    """
    rel = _check_relpath(relpath)
    if not isinstance(content, (str, bytes)):
        raise ValueError(say(f"The note's content must be text, not {type(content).__name__}.",
                             f"El contenido de la nota debe ser texto, no {type(content).__name__}."))
    target = notes_dir(phase, learner).joinpath(*rel.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    new = content.encode("utf-8") if isinstance(content, str) else content
    with _locked(target.parent):
        try:
            old = target.read_bytes()
        except FileNotFoundError:
            old = None
        if old == new:
            return target
        try:
            if old is not None:
                versions = _versions_of(target)
                number = versions[-1][0] + 1 if versions else 1
                kept = _version_path(target, number)
                if not atomic_write(kept, old, exclusive=True):
                    raise FileExistsError(say(f"{display_path(kept)} appeared while saving",
                                              f"{display_path(kept)} apareció mientras se guardaba"))
            atomic_write(target, new)
        except OSError as err:
            if isinstance(err, FileExistsError):
                raise
            raise NoteNotSaved(say(f"The note was not saved ({_reason(err)}); {display_path(target)} "
                                   "and its earlier versions are unchanged. Free some disk space and save again.",
                                   f"La nota no se ha guardado ({_reason(err)}); {display_path(target)} y sus "
                                   "versiones anteriores no han cambiado. Libera espacio en el disco y guarda de "
                                   "nuevo.")) from err
    return target


def note_versions(phase: int, relpath: str, learner: str | None = None) -> list[Path]:
    """The kept earlier versions of a note (``<stem>.v1<suffix>``, ...), oldest first."""
    rel = _check_relpath(relpath)
    target = _notes_path(phase, learner).joinpath(*rel.parts)
    return [path for _, path in _versions_of(target)]
