"""Who is learning: the learner's name, checked, and remembered between notebooks.

Every learner gets a folder ``learners/<name>/`` for their notes (``learner_dir``; the notes
themselves: ``utils.course.notes``). ``display_path`` prints a path in that short form.
The name is typed once, in ``notebooks/00-start-here.ipynb``, and remembered in the file
``.course-learner`` at the top of the repository (it is gitignored). The environment
variable ``LEARNER`` wins over the remembered name; tests and CI use it.

Whose notes a notebook writes (``notes_owner``): a learner's copy (``learners/<name>/phase-NN/``)
writes the current learner's; a master notebook (one under ``notebooks/``, the instructor's solved
version) always writes the example learner ``example-complete``'s, whoever runs it, so the worked
example never lands in a real learner's notes.

What a name may contain (the name becomes a folder, so it must be one safe path part):

- letters of any alphabet (``José``, ``Zoë``, ``李雷``), digits, ``-``, ``_``, ``.`` and an
  apostrophe (``o'brien``, ``D’Angelo``);
- spaces inside the name (``Ana María``); spaces around it are stripped;
- at most 64 characters.

Refused: an empty name, ``.`` and ``..``, a name starting with a dot, ``/`` or ``\\``,
control characters anywhere, even at the ends (tabs, newlines, ...) and any other symbol (``:``, ``*``, emoji, ...).
Names are stored in Unicode NFC form, so ``José`` typed with a combining accent and
``José`` typed with a precomposed ``é`` are the same learner, with the same folder.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path, PurePosixPath

from utils.spikelab.atomic import atomic_write

MAX_NAME_LENGTH = 64
EXAMPLE_COMPLETE = "example-complete"   # the worked example's learner: master notebooks save their notes here
REMEMBERED_NAME_FILE = ".course-learner"
APOSTROPHES = "'\u2019"      # o'brien, D’Angelo
ALLOWED = (
    "letters, digits, '-', '_', '.' (not first), an apostrophe and spaces inside the name, "
    f"at most {MAX_NAME_LENGTH} characters"
)


class LearnerNameError(ValueError):
    """A learner name that cannot be used; the message says what was wrong and what is allowed."""


def _describe(char: str) -> str:
    """A readable description of one character, for error messages: "'*'" or 'U+0009 (TAB)'."""
    name = unicodedata.name(char, "")
    if unicodedata.category(char).startswith("C") or not char.isprintable():
        return f"U+{ord(char):04X}" + (f" ({name})" if name else "")
    return repr(char) + (f" ({name})" if name else "")


def validate_learner_name(name: str) -> str:
    """Return the learner name stripped of surrounding spaces (in NFC form), or raise.

    Raises LearnerNameError, whose message names the problem and what is allowed, when
    the name is empty, is ``.`` or ``..``, starts with a dot, contains ``/`` or ``\\``,
    contains a control character or another symbol, or is longer than 64 characters.
    Allowed: letters of any alphabet, digits, ``-``, ``_``, ``.`` (not first) and spaces
    inside the name.
    """
    if not isinstance(name, str):
        raise LearnerNameError(f"The learner name must be text, not {type(name).__name__}.")
    for char in name:       # before stripping: "name\n" is refused, not quietly turned into "name"
        if unicodedata.category(char).startswith("C"):
            raise LearnerNameError(
                f"The learner name contains the control character {_describe(char)}. "
                f"Allowed: {ALLOWED}."
            )
    cleaned = unicodedata.normalize("NFC", name.strip())
    if not cleaned:
        raise LearnerNameError(f"The learner name is empty. Allowed: {ALLOWED}.")
    if cleaned in (".", ".."):
        raise LearnerNameError(
            f"The learner name {cleaned!r} is not a name (it means a folder). Allowed: {ALLOWED}."
        )
    for char in cleaned:
        if unicodedata.category(char).startswith("C"):
            raise LearnerNameError(
                f"The learner name contains the control character {_describe(char)}. "
                f"Allowed: {ALLOWED}."
            )
    if "/" in cleaned or "\\" in cleaned:
        slash = "/" if "/" in cleaned else "\\"
        raise LearnerNameError(
            f"The learner name {cleaned!r} contains {slash!r}; it becomes one folder name, "
            f"so it cannot hold a path separator. Allowed: {ALLOWED}."
        )
    if cleaned.startswith("."):
        raise LearnerNameError(
            f"The learner name {cleaned!r} starts with a dot (that would be a hidden folder). "
            f"Allowed: {ALLOWED}."
        )
    if len(cleaned) > MAX_NAME_LENGTH:
        raise LearnerNameError(
            f"The learner name is {len(cleaned)} characters long; the limit is "
            f"{MAX_NAME_LENGTH}. Allowed: {ALLOWED}."
        )
    for char in cleaned:
        category = unicodedata.category(char)
        # L* letters, M* combining marks (accents, vowel signs), Nd digits.
        if category[0] in "LM" or category == "Nd" or char in "-_. " + APOSTROPHES:
            continue
        raise LearnerNameError(
            f"The learner name {cleaned!r} contains {_describe(char)}, which is not allowed. "
            f"Allowed: {ALLOWED}."
        )
    return cleaned


def repo_root() -> Path:
    """The top folder of the course repository (the folder that holds ``utils/``)."""
    return Path(__file__).resolve().parents[2]


def learners_dir() -> Path:
    """The folder that holds one folder per learner.

    ``$COURSE_LEARNERS_DIR`` when set (tests and CI point it at a temporary folder),
    otherwise ``learners/`` at the top of the repository.
    """
    override = os.environ.get("COURSE_LEARNERS_DIR", "").strip()
    if override:
        return Path(override).expanduser()
    return repo_root() / "learners"


def learner_dir(learner: str | None = None) -> Path:
    """The learner's own folder ``learners/<name>/`` (not created here).

    ``learner`` defaults to ``notes_owner()``: the current learner, or the example learner when a
    master notebook runs. It is validated either way.
    """
    name = validate_learner_name(learner) if learner is not None else notes_owner()
    return learners_dir() / name


def masters_dir() -> Path:
    """The folder of the master notebooks, the instructor's solved versions: ``<repo>/notebooks``."""
    return repo_root() / "notebooks"


def running_a_master(cwd: Path | None = None) -> bool:
    """True when the working directory (``cwd``, default the process's) is inside ``notebooks/``.

    A notebook's kernel starts in the notebook's own folder (JupyterLab, nbval and the notebook
    build all do this), so this tells a master notebook from a learner's copy.
    """
    try:
        here = Path(os.path.realpath(Path.cwd() if cwd is None else cwd))
    except OSError:     # the working directory was deleted
        return False
    return here.is_relative_to(Path(os.path.realpath(masters_dir())))


def notes_owner() -> str:
    """Whose notes this notebook writes: ``example-complete`` in a master notebook (whoever runs it),
    otherwise ``current_learner()``."""
    return EXAMPLE_COMPLETE if running_a_master() else current_learner()


def notes_owner_line() -> str:
    """One line for a notebook's output: whose notes it writes, and why when it is a master."""
    owner = notes_owner()
    where = display_path(learners_dir() / owner)
    if running_a_master():
        return (f"Notes of this notebook go to {where}/: this is a master notebook (notebooks/, the "
                f"instructor's solved version), so whoever runs it saves to the example learner "
                f"{owner}, never to your notes. / Este es un cuaderno maestro: guarda en el alumno de "
                f"ejemplo {owner}, nunca en tus notas; trabaja en tu copia (Make my notebooks).")
    return f"Your notes go to {where}/. / Tus notas se guardan en {where}/."


def display_path(p: Path) -> str:
    """``p`` in the short, machine-independent form to print: ``learners/<name>/...``.

    Paths inside the learners folder are always shown as ``learners/...`` (even when
    ``$COURSE_LEARNERS_DIR`` moves that folder elsewhere); other paths inside the repository
    are shown relative to it. Never returns an absolute path: anything else is shown as
    ``.../<file name>``.
    """
    path = Path(p)
    if not path.is_absolute():
        return path.as_posix()
    for base, shown in ((learners_dir(), PurePosixPath("learners")), (repo_root(), PurePosixPath())):
        for candidate, root in ((path, base), (Path(os.path.realpath(path)), Path(os.path.realpath(base)))):
            try:
                rel = candidate.relative_to(root)
            except ValueError:
                continue
            shown_path = shown.joinpath(*rel.parts)
            return shown_path.as_posix() if shown_path.parts else "."
    return f".../{path.name}"


def remembered_name_path() -> Path:
    """The file that remembers the learner's name between notebooks: ``learners/.course-learner``
    (inside ``$COURSE_LEARNERS_DIR`` when that moves the learners folder, so a test never touches yours)."""
    return learners_dir() / REMEMBERED_NAME_FILE


def remember_learner(name: str) -> str:
    """Check ``name`` and remember it for every notebook; return the cleaned name.

    The file is replaced atomically (written beside it, then renamed), so a notebook
    reading it at the same moment sees either the old name or the new one.
    """
    cleaned = validate_learner_name(name)
    target = remembered_name_path()
    atomic_write(target, cleaned + "\n")
    return cleaned


def current_learner() -> str:
    """The name of the learner using the course now.

    ``$LEARNER`` wins when set to a non-blank value; otherwise the name remembered by
    ``notebooks/00-start-here.ipynb``. Raises LearnerNameError when neither exists or
    the name found is not a valid name.
    """
    from_env = os.environ.get("LEARNER", "")
    if from_env.strip():
        try:
            return validate_learner_name(from_env)
        except LearnerNameError as err:
            raise LearnerNameError(f"The environment variable LEARNER is not usable: {err}") from None
    path = remembered_name_path()
    try:
        remembered = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LearnerNameError(
            "No learner name yet. Open notebooks/00-start-here.ipynb and type your name "
            "in the form (or set the environment variable LEARNER)."
        ) from None
    try:
        return validate_learner_name(remembered.removesuffix("\n"))
    except LearnerNameError as err:
        raise LearnerNameError(
            f"The remembered name in {REMEMBERED_NAME_FILE} is not usable: {err} "
            "Type your name again in notebooks/00-start-here.ipynb."
        ) from None


def name_form():
    """An ipywidgets form (text box, button, message area) to type and remember your name.

    On click the name is checked and remembered; the message area then shows where your
    notes will be kept (relative to the repository, e.g. ``learners/José/``), or what
    was wrong with the name.
    """
    import ipywidgets as widgets

    try:
        known = current_learner()
    except LearnerNameError:
        known = ""
    text = widgets.Text(value=known, description="Your name", placeholder="e.g. José")
    button = widgets.Button(description="Remember me", button_style="primary")
    output = widgets.Output()

    def say(line: str) -> None:
        output.append_stdout(line + "\n")

    def on_click(_button) -> None:
        output.outputs = ()  # clear the previous message
        try:
            name = remember_learner(text.value)
        except LearnerNameError as err:
            say(f"Not saved: {err}")
            return
        except OSError as err:
            say(f"Not saved: the name could not be written ({err.strerror}).")
            return
        text.value = name
        folder = learner_dir(name)
        say(f"Hello {name}! Your name is remembered for every notebook.")
        say(f"Your notes will be kept in {display_path(folder)}/ (one notes folder per "
            f"phase, e.g. {display_path(folder / 'phase-17' / 'notes')}/).")
        env_name = os.environ.get("LEARNER", "").strip()
        if env_name and env_name != name:
            say(f"Note: the environment variable LEARNER={env_name!r} is set; it wins over "
                "the name typed here for as long as it stays set.")

    button.on_click(on_click)
    return widgets.VBox([widgets.HBox([text, button]), output])
