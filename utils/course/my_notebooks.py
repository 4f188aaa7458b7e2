"""The start page's "Make my notebooks" button: the learner's own copies, and links that open them.

``notebooks/`` holds the masters, the instructor's solved versions. A learner works in copies of
their own, ``learners/<name>/phase-NN/<notebook>.ipynb`` (solutions replaced by stubs, hidden checks
left out: ``utils.course.learner_copies``). The button makes them for the current learner
(``utils.course.learner.current_learner``) and lists one link per notebook. A copy that exists is
never overwritten; when its master changed since it was made, a new copy is written beside it
(``<notebook>.v2.ipynb``) and both are listed.

The links are relative to the notebook that shows them (a kernel runs in its notebook's folder), so
JupyterLab, whose root is the repository (``scripts/start.sh``), opens them in a new tab. A copy
outside JupyterLab's root (``COURSE_LEARNERS_DIR`` pointing elsewhere) is listed by path, without
a link.
"""
from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote

import ipywidgets as widgets
from IPython.display import HTML

from utils.course.learner import (LearnerNameError, current_learner, display_path, learner_dir, name_form,
                                  repo_root)
from utils.course.learner_copies import CopyResult, make_learner_copies

STATUS_NOTE = {
    "written": "new / nuevo",
    "kept": "",
    "new copy": "new copy: the course changed this notebook / copia nueva: el curso cambió este cuaderno",
}


def link_for(path: Path, here: Path | None = None) -> str | None:
    """The href that opens ``path`` from a notebook in folder ``here`` (default: the working directory),
    percent-encoded; None when ``path`` is outside the repository (JupyterLab's root)."""
    target = Path(os.path.realpath(path))
    if not target.is_relative_to(Path(os.path.realpath(repo_root()))):
        return None
    start = os.path.realpath(Path.cwd() if here is None else here)
    return quote(Path(os.path.relpath(target, start)).as_posix())


def copies_html(name: str, results: list[CopyResult], here: Path | None = None) -> str:
    """The list of the learner's notebooks as HTML: one line per notebook, a link where JupyterLab can open it."""
    folder = display_path(learner_dir(name))
    lines = [f"<p><b>Your notebooks, {html.escape(name)}</b> ({html.escape(folder)}/). Click one to open it; "
             f"work there, not in <code>notebooks/</code>. / <b>Tus cuadernos</b>: haz clic para abrirlos y "
             f"trabaja en ellos, no en <code>notebooks/</code>.</p>", "<ul>"]
    unlinked = False
    for result in results:
        shown = display_path(result.path)
        href = link_for(result.path, here)
        unlinked = unlinked or href is None
        label = html.escape(Path(shown).parent.name + "/" + result.path.name)
        item = f'<a href="{html.escape(href, quote=True)}">{label}</a>' if href else f"<code>{html.escape(shown)}</code>"
        note = STATUS_NOTE.get(result.status, result.status)
        if result.status == "new copy" and result.earlier is not None:
            note += (f"; your earlier copy {html.escape(result.earlier.name)} is kept as it is / tu copia "
                     f"anterior se conserva")
        lines.append(f"<li>{item}" + (f" <i>({note})</i>" if note else "") + "</li>")
    lines.append("</ul>")
    if unlinked:
        lines.append("<p>These copies are outside the folder JupyterLab shows (COURSE_LEARNERS_DIR points "
                     "elsewhere): open them from there. / Estas copias están fuera de la carpeta que muestra "
                     "JupyterLab: ábrelas desde allí.</p>")
    return "\n".join(lines)


def my_notebooks_form(here: Path | None = None, notebooks_root: Path | None = None) -> widgets.VBox:
    """The "Make my notebooks" button and the area where it lists the learner's notebooks.

    ``here`` is the folder of the notebook showing the links (default: the working directory);
    ``notebooks_root`` the masters to copy (default: ``notebooks/``).
    """
    button = widgets.Button(description="Make my notebooks", button_style="success",
                            tooltip="Copy every course notebook into your folder (never overwrites)")
    button.layout.width = "180px"
    output = widgets.Output()

    def say(line: str) -> None:
        output.append_stdout(line + "\n")

    def on_click(_button) -> None:
        output.outputs = ()
        try:
            name = current_learner()
        except LearnerNameError as err:
            say(f"No notebooks made: {err} / No se hizo ninguna copia: escribe tu nombre arriba y pulsa "
                "Remember me.")
            return
        try:
            results = make_learner_copies(name, notebooks_root=notebooks_root)
        except OSError as err:
            say(f"No notebooks made: they could not be written ({err.strerror or err}); nothing was "
                "changed. / No se hizo ninguna copia: no se pudieron escribir.")
            return
        if not results:
            say("No course notebooks were found in notebooks/phase-NN-*/. / No se encontraron cuadernos.")
            return
        env_name = os.environ.get("LEARNER", "").strip()
        if env_name:
            say(f"Made for {name}: the environment variable LEARNER is set, and it wins over the typed name.")
        output.append_display_data(HTML(copies_html(name, results, here)))

    button.on_click(on_click)
    return widgets.VBox([button, output])


def start_form() -> widgets.VBox:
    """The start page's form: your name (``name_form``), then "Make my notebooks"."""
    return widgets.VBox([name_form(), my_notebooks_form()])
