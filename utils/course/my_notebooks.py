"""The start page's "Make my notebooks" button: the learner's own copies, and links that open them.

``notebooks/`` holds the masters, the instructor's solved versions. A learner works in copies of
their own, ``learners/<name>/phase-NN/<notebook>.ipynb`` (solutions replaced by stubs, hidden checks
left out: ``utils.course.learner_copies``). The button makes them for the current learner
(``utils.course.learner.current_learner``) and lists one link per notebook. A copy that exists is
never overwritten; when its master changed since it was made, a new copy is written beside it
(``<notebook>.v2.ipynb``) and both are listed.

The links are relative to the notebook that shows them (a kernel runs in its notebook's folder), so
JupyterLab, whose root is the course home (``utils.course.learner.course_home``: the repository with
``scripts/start.sh``; on JupyterHub the user's ``~/course``, where ``notebooks`` links to the read-only
masters), opens them in a new tab. A copy outside JupyterLab's root (``COURSE_LEARNERS_DIR`` pointing
elsewhere) is listed by path, without a link.
"""
from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote

import ipywidgets as widgets
from IPython.display import HTML

from utils.course.learner import (LearnerNameError, course_home, current_learner, display_path, learner_dir,
                                  masters_dir, name_form)
from utils.course.learner_copies import CopyResult, make_learner_copies
from utils.course.profile import language_saved_line
from utils.text import LANGUAGES, Phrasebook, current, say, set_language

# what the list says beside a copy, by its status (utils.course.learner_copies)
STATUS_NOTE = Phrasebook(lambda: {
    "written": say("new", "nuevo"),
    "kept": "",
    "new copy": say("new copy: the course changed this notebook", "copia nueva: el curso cambió este cuaderno"),
})


def link_for(path: Path, here: Path | None = None) -> str | None:
    """The href that opens ``path`` from a notebook in folder ``here`` (default: the working directory),
    percent-encoded; None when ``path`` is outside the repository (JupyterLab's root)."""
    root = Path(os.path.realpath(course_home()))
    target = Path(os.path.realpath(path))
    if not target.is_relative_to(root):
        return None
    start = Path(os.path.realpath(Path.cwd() if here is None else here))
    masters, link = Path(os.path.realpath(masters_dir())), course_home() / "notebooks"
    if start.is_relative_to(masters) and not start.is_relative_to(root) and link.is_symlink() \
            and Path(os.path.realpath(link)) == masters:
        # on a hub the start page runs in the read-only install, but JupyterLab shows it under <home>/notebooks
        start = root / "notebooks" / start.relative_to(masters)
    return quote(Path(os.path.relpath(target, start)).as_posix())


def copies_html(name: str, results: list[CopyResult], here: Path | None = None) -> str:
    """The list of the learner's notebooks as HTML: one line per notebook, a link where JupyterLab can open it."""
    folder = display_path(learner_dir(name))
    lines = [say(f"<p><b>Your notebooks, {html.escape(name)}</b> ({html.escape(folder)}/). Click one to open it; "
                 f"work there, not in <code>notebooks/</code>.</p>",
                 f"<p><b>Tus cuadernos, {html.escape(name)}</b> ({html.escape(folder)}/). Haz clic en uno para "
                 f"abrirlo; trabaja ahí, no en <code>notebooks/</code>.</p>"), "<ul>"]
    unlinked = False
    for result in results:
        shown = display_path(result.path)
        href = link_for(result.path, here)
        unlinked = unlinked or href is None
        label = html.escape(Path(shown).parent.name + "/" + result.path.name)
        item = f'<a href="{html.escape(href, quote=True)}">{label}</a>' if href else f"<code>{html.escape(shown)}</code>"
        note = STATUS_NOTE.get(result.status, result.status)
        if result.status == "new copy" and result.earlier is not None:
            note += say(f"; your earlier copy {html.escape(result.earlier.name)} is kept as it is",
                        f"; tu copia anterior {html.escape(result.earlier.name)} se conserva tal cual")
        lines.append(f"<li>{item}" + (f" <i>({note})</i>" if note else "") + "</li>")
    lines.append("</ul>")
    if unlinked:
        lines.append(say("<p>These copies are outside the folder JupyterLab shows (COURSE_LEARNERS_DIR points "
                         "elsewhere): open them from there.</p>",
                         "<p>Estas copias están fuera de la carpeta que muestra JupyterLab (COURSE_LEARNERS_DIR "
                         "apunta a otro sitio): ábrelas desde allí.</p>"))
    return "\n".join(lines)


def my_notebooks_form(here: Path | None = None, notebooks_root: Path | None = None) -> widgets.VBox:
    """The "Make my notebooks" button and the area where it lists the learner's notebooks.

    ``here`` is the folder of the notebook showing the links (default: the working directory);
    ``notebooks_root`` the masters to copy (default: ``notebooks/``).
    """
    button = widgets.Button(description=say("Make my notebooks", "Crear mis cuadernos"), button_style="success",
                            tooltip=say("Copy every course notebook into your folder (never overwrites)",
                                        "Copia cada cuaderno del curso en tu carpeta (nunca sobrescribe)"))
    button.layout.width = "180px"
    output = widgets.Output()

    def tell(line: str) -> None:
        output.append_stdout(line + "\n")

    def on_click(_button) -> None:
        output.outputs = ()
        try:
            name = current_learner()
        except LearnerNameError as err:
            tell(say(f"No notebooks made: {err} Type your name above and press Remember me.",
                     f"No se hizo ninguna copia: {err} Escribe tu nombre arriba y pulsa Recordarme."))
            return
        try:
            results = make_learner_copies(name, notebooks_root=notebooks_root)
        except OSError as err:
            tell(say(f"No notebooks made: they could not be written ({err.strerror or err}); nothing was changed.",
                     f"No se hizo ninguna copia: no se pudieron escribir ({err.strerror or err}); no se cambió nada."))
            return
        if not results:
            tell(say("No course notebooks were found in notebooks/phase-NN-*/.",
                     "No se encontró ningún cuaderno del curso en notebooks/phase-NN-*/."))
            return
        env_name = os.environ.get("LEARNER", "").strip()
        if env_name:
            tell(say(f"Made for {name}: the environment variable LEARNER is set, and it wins over the typed name.",
                     f"Creados para {name}: la variable de entorno LEARNER está definida y manda sobre el nombre "
                     "escrito."))
        output.append_display_data(HTML(copies_html(name, results, here)))

    button.on_click(on_click)
    return widgets.VBox([button, output])


def start_form() -> widgets.VBox:
    """The start page's form: your language (English / Español), your name (``name_form``), then
    "Make my notebooks".

    Choosing a language redraws the whole form in it at once (what is typed in the name box stays),
    and saves it for the remembered learner when the name box shows that learner's name
    (``utils.course.profile``); otherwise Remember me saves the language shown with the new name.
    """
    page = widgets.VBox()

    def draw(typed: str | None = None, note: str = "") -> None:
        picker = widgets.ToggleButtons(options=[(label, code) for code, label in LANGUAGES.items()],
                                       value=current(), description=say("Language", "Idioma"))
        names = name_form(on_remembered=lambda name: language_saved_line(name, current()), typed=typed)

        def on_change(change) -> None:
            set_language(change["new"])
            try:
                shown = names.children[0].children[0].value     # the name box, kept across the redraw
            except (AttributeError, IndexError):                # on JupyterHub there is no name box
                shown = None
            try:
                remembered = current_learner()
            except LearnerNameError:
                remembered = ""
            # Save only for the learner the box names: a new name typed but not yet remembered must not
            # change the previous learner's profile (Remember me saves the language with the new name).
            if remembered and (shown is None or shown.strip() == remembered):
                saved = language_saved_line(remembered, current())
            else:
                saved = ""
            draw(shown, saved)

        picker.observe(on_change, names="value")
        page.children = [widgets.HBox([picker, widgets.HTML(html.escape(note))]), names, my_notebooks_form()]

    draw()
    return page
