"""Who is learning: the learner's name, checked, and remembered between notebooks.

Every learner gets a folder ``learners/<name>/`` for their notes (``learner_dir``; the notes
themselves: ``utils.course.notes``). ``display_path`` prints a path in that short form.
The name is typed once, in ``notebooks/00-start-here.ipynb``, and remembered in the file
``.course-learner`` at the top of the repository (it is gitignored). The environment
variable ``LEARNER`` wins over the remembered name; tests and CI use it.

On JupyterHub (``$JUPYTERHUB_USER`` set, ``hub_user``) the learner is the hub login: no form,
no remembered name, and ``LEARNER`` may not name anyone else (a learner never writes into another
learner's folder). Where the notes live is one place, ``course_home``: the writable root that holds
``learners/`` (``$COURSE_HOME``; on a hub without it ``~/course``; otherwise the repository), so the
course itself (``utils/``, the masters in ``notebooks/``) may be a shared read-only install.

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

The learner's language, chosen beside the name on the start page, is remembered with it in
``learners/<name>/profile.json`` (``utils.course.profile``); ``name_form(on_remembered=...)`` lets the
start page save it when the name is remembered.
"""

from __future__ import annotations

import html
import os
import unicodedata
from pathlib import Path, PurePosixPath

from utils.spikelab.atomic import atomic_write
from utils.text import say

MAX_NAME_LENGTH = 64
EXAMPLE_COMPLETE = "example-complete"   # the worked example's learner: master notebooks save their notes here
REMEMBERED_NAME_FILE = ".course-learner"
HUB_USER_ENV = "JUPYTERHUB_USER"      # set by JupyterHub in every single-user server and its kernels
COURSE_HOME_ENV = "COURSE_HOME"       # the user's writable course folder (learners/ lives in it)
HUB_COURSE_FOLDER = "course"          # on a hub without $COURSE_HOME: ~/course
APOSTROPHES = "'\u2019"      # o'brien, D’Angelo


def allowed() -> str:
    """What a name may hold, in one phrase (every refusal ends with it)."""
    return say("letters, digits, '-', '_', '.' (not first), an apostrophe and spaces inside the name, "
               f"at most {MAX_NAME_LENGTH} characters",
               "letras, cifras, '-', '_', '.' (no al principio), un apóstrofo y espacios dentro del nombre, "
               f"como mucho {MAX_NAME_LENGTH} caracteres")


class LearnerNameError(ValueError):
    """A learner name that cannot be used; the message says what was wrong (``reason``) and, for a
    name refused by ``validate_learner_name``, what is allowed."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = message if reason is None else reason


def _refused(reason: str) -> LearnerNameError:
    """The refusal of a typed name: ``reason``, then what a name may hold."""
    return LearnerNameError(reason + say(f" Allowed: {allowed()}.", f" Se admiten: {allowed()}."), reason)


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
        raise LearnerNameError(say(f"The learner name must be text, not {type(name).__name__}.",
                                   f"El nombre debe ser texto, no {type(name).__name__}."))
    for char in name:       # before stripping: "name\n" is refused, not quietly turned into "name"
        if unicodedata.category(char).startswith("C"):
            raise _refused(_control_char(char))
    cleaned = unicodedata.normalize("NFC", name.strip())
    if not cleaned:
        raise _refused(say("The learner name is empty.", "El nombre está vacío."))
    if cleaned in (".", ".."):
        raise _refused(say(f"The learner name {cleaned!r} is not a name (it means a folder).",
                           f"{cleaned!r} no es un nombre (significa una carpeta)."))
    for char in cleaned:
        if unicodedata.category(char).startswith("C"):
            raise _refused(_control_char(char))
    if "/" in cleaned or "\\" in cleaned:
        slash = "/" if "/" in cleaned else "\\"
        raise _refused(say(
            f"The learner name {cleaned!r} contains {slash!r}; it becomes one folder name, "
            "so it cannot hold a path separator.",
            f"El nombre {cleaned!r} contiene {slash!r}; se convierte en el nombre de una carpeta, "
            "así que no puede llevar un separador de ruta."))
    if cleaned.startswith("."):
        raise _refused(say(
            f"The learner name {cleaned!r} starts with a dot (that would be a hidden folder).",
            f"El nombre {cleaned!r} empieza por un punto (sería una carpeta oculta)."))
    if len(cleaned) > MAX_NAME_LENGTH:
        raise _refused(say(
            f"The learner name is {len(cleaned)} characters long; the limit is {MAX_NAME_LENGTH}.",
            f"El nombre tiene {len(cleaned)} caracteres; el límite es {MAX_NAME_LENGTH}."))
    for char in cleaned:
        category = unicodedata.category(char)
        # L* letters, M* combining marks (accents, vowel signs), Nd digits.
        if category[0] in "LM" or category == "Nd" or char in "-_. " + APOSTROPHES:
            continue
        raise _refused(say(
            f"The learner name {cleaned!r} contains {_describe(char)}, which is not allowed.",
            f"El nombre {cleaned!r} contiene {_describe(char)}, que no se admite."))
    return cleaned


def _control_char(char: str) -> str:
    """The refusal of a name holding a control character."""
    return say(f"The learner name contains the control character {_describe(char)}.",
               f"El nombre contiene el carácter de control {_describe(char)}.")


def repo_root() -> Path:
    """The top folder of the course repository (the folder that holds ``utils/``)."""
    return Path(__file__).resolve().parents[2]


def hub_user() -> str | None:
    """The JupyterHub login of this server's user (``$JUPYTERHUB_USER``), or None off a hub.

    Raises LearnerNameError when the login cannot be a folder name (e.g. ``ana@uni.edu``)."""
    login = os.environ.get(HUB_USER_ENV, "")
    if not login.strip():
        return None
    try:
        return validate_learner_name(login)
    except LearnerNameError as err:
        raise LearnerNameError(say(f"Your JupyterHub login {login!r} cannot name your folder: {err} "
                                   "Ask the instructor to give you a login without such characters.",
                                   f"Tu usuario de JupyterHub {login!r} no puede ser el nombre de tu carpeta: {err} "
                                   "Pide al instructor un usuario sin esos caracteres.")) from None


def course_home() -> Path:
    """The writable root of the course for whoever runs it: the folder that holds ``learners/``.

    ``$COURSE_HOME`` when set (a JupyterHub user's own copy, ``python -m utils.hub provision``);
    on a hub without it ``~/course``; otherwise the repository itself (one learner, one clone).
    """
    home = os.environ.get(COURSE_HOME_ENV, "").strip()
    if home:
        return Path(home).expanduser()
    if os.environ.get(HUB_USER_ENV, "").strip():
        return Path.home() / HUB_COURSE_FOLDER
    return repo_root()


def learners_dir() -> Path:
    """The folder that holds one folder per learner.

    ``$COURSE_LEARNERS_DIR`` when set (tests, CI and the grader point it at a temporary folder),
    otherwise ``learners/`` in ``course_home()`` (the repository, unless on a hub or ``$COURSE_HOME``).
    """
    override = os.environ.get("COURSE_LEARNERS_DIR", "").strip()
    if override:
        return Path(override).expanduser()
    return course_home() / "learners"


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
        return say(f"Notes of this notebook go to {where}/: this is a master notebook (notebooks/, the "
                   f"instructor's solved version), so whoever runs it saves to the example learner "
                   f"{owner}, never to your notes.",
                   f"Las notas de este cuaderno van a {where}/: es un cuaderno maestro (notebooks/, la versión "
                   f"resuelta del instructor), así que quien lo ejecute guarda en el alumno de ejemplo {owner}, "
                   f"nunca en tus notas; trabaja en tu copia (Crear mis cuadernos).")
    return say(f"Your notes go to {where}/.", f"Tus notas se guardan en {where}/.")


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
    login = hub_user()
    if login is not None and cleaned != login:
        raise LearnerNameError(say(f"On JupyterHub you are {login!r}: your notes go to learners/{login}/ and "
                                   f"cannot go to {cleaned!r}'s folder.",
                                   f"En JupyterHub eres {login!r}: tus notas van a learners/{login}/ y no pueden "
                                   f"ir a la carpeta de {cleaned!r}."))
    target = remembered_name_path()
    atomic_write(target, cleaned + "\n")
    return cleaned


def current_learner() -> str:
    """The name of the learner using the course now.

    On JupyterHub the hub login (``hub_user``); ``$LEARNER`` naming anyone else is refused.
    Otherwise ``$LEARNER`` wins when set to a non-blank value, then the name remembered by
    ``notebooks/00-start-here.ipynb``. Raises LearnerNameError when neither exists or
    the name found is not a valid name.
    """
    from_env = os.environ.get("LEARNER", "")
    login = hub_user()
    if login is not None:
        if from_env.strip() and unicodedata.normalize("NFC", from_env.strip()) != login:
            raise LearnerNameError(say(f"On JupyterHub you are {login!r}; LEARNER={from_env.strip()!r} names "
                                       f"someone else, and nobody writes into another learner's folder. "
                                       "Unset LEARNER.",
                                       f"En JupyterHub eres {login!r}; LEARNER={from_env.strip()!r} nombra a otra "
                                       "persona, y nadie escribe en la carpeta de otro alumno. Quita LEARNER."))
        return login
    if from_env.strip():
        try:
            return validate_learner_name(from_env)
        except LearnerNameError as err:
            raise LearnerNameError(say(f"The environment variable LEARNER is not usable: {err}",
                                       f"La variable de entorno LEARNER no sirve: {err}")) from None
    path = remembered_name_path()
    try:
        remembered = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LearnerNameError(say(
            "No learner name yet. Open notebooks/00-start-here.ipynb and type your name "
            "in the form (or set the environment variable LEARNER).",
            "Todavía no hay nombre. Abre notebooks/00-start-here.ipynb y escribe tu nombre en el "
            "formulario (o define la variable de entorno LEARNER).")) from None
    try:
        return validate_learner_name(remembered.removesuffix("\n"))
    except LearnerNameError as err:
        raise LearnerNameError(say(
            f"The remembered name in {REMEMBERED_NAME_FILE} is not usable: {err} "
            "Type your name again in notebooks/00-start-here.ipynb.",
            f"El nombre recordado en {REMEMBERED_NAME_FILE} no sirve: {err} "
            "Escribe tu nombre otra vez en notebooks/00-start-here.ipynb.")) from None


def hub_identity_html() -> str:
    """What the start page shows on JupyterHub instead of the name form: who you are, where your notes go."""
    try:
        login = hub_user()
    except LearnerNameError as err:
        return f"<p>{html.escape(str(err))}</p>"
    folder = html.escape(display_path(learners_dir() / login))
    name = html.escape(login)
    return say(f"<p>You are logged in to JupyterHub as <b>{name}</b>: that is your learner name, there is no "
               f"form to fill. Your notebooks and notes are kept in <code>{folder}/</code>, in your own "
               "course folder; nobody else writes there.</p>",
               f"<p>Has entrado en JupyterHub como <b>{name}</b>: ese es tu nombre en el curso, no hay "
               f"formulario que rellenar. Tus cuadernos y notas se guardan en <code>{folder}/</code>, en "
               "tu propia carpeta del curso; nadie más escribe ahí.</p>")


def name_form(on_remembered=None, typed: str | None = None):
    """An ipywidgets form (text box, button, message area) to type and remember your name.

    On click the name is checked and remembered; the message area then shows where your
    notes will be kept (relative to the repository, e.g. ``learners/José/``), or what
    was wrong with the name. ``on_remembered(name)``, when given, runs after the name is remembered
    (the start page saves the chosen language with it) and may return one more line to show.
    ``typed``: the text to start the box with (the start page keeps it when it is redrawn).
    """
    import ipywidgets as widgets

    if os.environ.get(HUB_USER_ENV, "").strip():      # on JupyterHub the login is the name: no form
        return widgets.HTML(hub_identity_html())
    try:
        known = current_learner()
    except LearnerNameError:
        known = ""
    text = widgets.Text(value=known if typed is None else typed, description=say("Your name", "Tu nombre"),
                        placeholder=say("e.g. José", "p. ej. José"))
    button = widgets.Button(description=say("Remember me", "Recordarme"), button_style="primary")
    output = widgets.Output()

    def tell(line: str) -> None:
        output.append_stdout(line + "\n")

    def on_click(_button) -> None:
        output.outputs = ()  # clear the previous message
        try:
            name = remember_learner(text.value)
        except LearnerNameError as err:
            tell(say(f"Not saved: {err}", f"No guardado: {err}"))
            return
        except OSError as err:
            tell(say(f"Not saved: the name could not be written ({err.strerror}).",
                     f"No guardado: no se pudo escribir el nombre ({err.strerror})."))
            return
        text.value = name
        folder = learner_dir(name)
        extra = on_remembered(name) if on_remembered is not None else None
        tell(say(f"Hello {name}! Your name is remembered for every notebook.",
                 f"¡Hola, {name}! Tu nombre queda recordado en todos los cuadernos."))
        tell(say(f"Your notes will be kept in {display_path(folder)}/ (one notes folder per "
                 f"phase, e.g. {display_path(folder / 'phase-17' / 'notes')}/).",
                 f"Tus notas se guardarán en {display_path(folder)}/ (una carpeta de notas por fase, "
                 f"p. ej. {display_path(folder / 'phase-17' / 'notes')}/)."))
        if extra:
            tell(extra)
        env_name = os.environ.get("LEARNER", "").strip()
        if env_name and env_name != name:
            tell(say(f"Note: the environment variable LEARNER={env_name!r} is set; it wins over "
                     "the name typed here for as long as it stays set.",
                     f"Nota: la variable de entorno LEARNER={env_name!r} está definida; manda sobre el "
                     "nombre escrito aquí mientras siga definida."))

    button.on_click(on_click)
    return widgets.VBox([widgets.HBox([text, button]), output])
