# ---
# jupyter:
#   course:
#     nbval: strict
# ---

# %% [markdown]
# # Start here
#
# Welcome to the course on **training instability**: you will watch a small language model's
# loss spike, find out why, write a post-mortem, and then teach the training loop to recover
# on its own. Every number you see comes from a real run of the code in `utils/`, which you
# are welcome to read.
#
# A training run is chaotic: the same seed can give slightly different numbers on two computers
# ([why runs differ](../theory/why-runs-differ.md) explains why;
# [en español](../theory/why-runs-differ.es.md)). So the texts quote each measured number as the
# range it took over several seeds, and right after each cell that trains a run, a line marked
# **Your run** shows the numbers your own run produced. The conclusions the course draws hold
# for all of them.
#
# This notebook does three things: it shows the map of the course, it asks your name, so that
# your notes (lessons learned, post-mortems) are kept in a folder of your own, and it makes your
# own copies of the notebooks, the ones you work in.
#
# 🇪🇸 **Español.** Bienvenido/a al curso sobre **inestabilidad del entrenamiento**: verás cómo la pérdida
# de un pequeño modelo de lenguaje se dispara, averiguarás por qué, escribirás un informe post-mortem y
# después enseñarás al bucle de entrenamiento a recuperarse solo. Cada número que veas sale de una
# ejecución real del código de `utils/`. Como un entrenamiento es caótico, los textos citan cada número
# medido como el rango que tomó con varias semillas (por qué: [en español](../theory/why-runs-differ.es.md)),
# y junto a cada celda que entrena aparece una línea **Your run** con los números de tu propia ejecución. Este cuaderno muestra el mapa del curso, te pide
# tu nombre, para guardar tus notas en una carpeta propia, y crea tus propias copias de los cuadernos,
# en las que trabajarás.

# %% [markdown]
# ## Course map
#
# | Phase | Theme | What you do |
# |---|---|---|
# | 17 | Data and model | build the corpus, the BPE tokenizer and the small transformer |
# | 18 | Optimizer and schedule | AdamW, warmup and decay: the knobs that make or break stability |
# | 19 | Diagnosis | reproduce the spike, read the dashboard, match failure patterns, write the post-mortem, remediate |
# | 20 | Automatic recovery | detectors, checkpoint rollback, the same recovery in PyTorch Lightning |
#
# The notebooks, in order (the theory texts behind them are listed after them). The links
# below open the **instructor's solved versions** in `notebooks/`, with every exercise solved: read
# them when you are stuck, but do your work in **your own copies** (next section).
#
# - Phase 17: [01 corpus and BPE](phase-17-data-and-model/01-corpus-and-bpe.ipynb) ·
#   [02 mini-GPT baseline](phase-17-data-and-model/02-mini-gpt-baseline.ipynb)
# - Phase 18: [01 AdamW moments](phase-18-optimizer-and-schedule/01-adamw-moments.ipynb) ·
#   [02 warmup and cosine](phase-18-optimizer-and-schedule/02-warmup-cosine.ipynb)
# - Phase 19: [01 reproduce the spike](phase-19-diagnosis/01-reproduce-the-spike.ipynb) ·
#   [02 dashboard](phase-19-diagnosis/02-dashboard.ipynb) ·
#   [03 failure patterns](phase-19-diagnosis/03-failure-patterns.ipynb) ·
#   [04 post-mortem](phase-19-diagnosis/04-post-mortem.ipynb) ·
#   [05 remediate and verify](phase-19-diagnosis/05-remediate-and-verify.ipynb)
# - Phase 20: [01 detectors](phase-20-automatic-recovery/01-detectors-calibration.ipynb) ·
#   [02 rollback](phase-20-automatic-recovery/02-rollback.ipynb) ·
#   [03 Lightning callback](phase-20-automatic-recovery/03-lightning-callback.ipynb)
#
# The theory texts in `theory/` quote the same numbers and give the background; every one has a
# Spanish twin with the same sections and numbers (**English** · **Español** links; the Spanish terms
# are those of the [glossary · glosario](../theory/glossary.md)):
#
# - Phase 17: corpus and BPE ([English](../theory/phase-17/01-corpus-and-bpe.md) ·
#   [Español](../theory/phase-17/01-corpus-and-bpe.es.md)) ·
#   the mini-GPT ([English](../theory/phase-17/02-mini-gpt.md) · [Español](../theory/phase-17/02-mini-gpt.es.md))
# - Phase 18: AdamW and its moments ([English](../theory/phase-18/01-adamw-moments.md) ·
#   [Español](../theory/phase-18/01-adamw-moments.es.md)) ·
#   optimizer and schedule ([English](../theory/phase-18/02-optimizer-and-schedule.md) ·
#   [Español](../theory/phase-18/02-optimizer-and-schedule.es.md))
# - Phase 19: the §A13 spike ([English](../theory/phase-19/01-the-a13-spike.md) ·
#   [Español](../theory/phase-19/01-the-a13-spike.es.md)) ·
#   three failure modes ([English](../theory/phase-19/03-three-failure-modes.md) ·
#   [Español](../theory/phase-19/03-three-failure-modes.es.md)) ·
#   the stability check ([English](../theory/phase-19/stability-check.md) ·
#   [Español](../theory/phase-19/stability-check.es.md)) ·
#   the post-mortem ([English](../theory/phase-19/04-loss-spike-post-mortem.md) ·
#   [Español](../theory/phase-19/04-loss-spike-post-mortem.es.md))
# - Phase 20: spike detectors ([English](../theory/phase-20/01-spike-detectors.md) ·
#   [Español](../theory/phase-20/01-spike-detectors.es.md)) ·
#   roll back, quarantine, replay ([English](../theory/phase-20/02-rollback.md) ·
#   [Español](../theory/phase-20/02-rollback.es.md)) ·
#   recovery in Lightning ([English](../theory/phase-20/03-lightning-callback.md) ·
#   [Español](../theory/phase-20/03-lightning-callback.es.md))
# - Optional: why the same seed gives other numbers on another CPU
#   ([English](../theory/why-runs-differ.md) · [Español](../theory/why-runs-differ.es.md))
#
# 🇪🇸 **Español.** El curso tiene cuatro fases: 17, datos y modelo; 18, optimizador y schedule del
# learning rate; 19, diagnóstico (reproducir el pico, leer el dashboard, reconocer patrones de fallo,
# escribir el post-mortem y corregir); 20, recuperación automática (detectores, rollback a un
# checkpoint, y lo mismo con PyTorch Lightning). Los enlaces de arriba abren las **versiones resueltas
# del instructor** (`notebooks/`), con todos los ejercicios resueltos: consúltalas si te atascas, pero
# trabaja en **tus propias copias**. Debajo de los cuadernos están los textos de teoría de cada fase
# (`theory/`), con las mismas cifras: cada uno tiene su versión en español, con las mismas secciones y
# los mismos números; el enlace **Español** de cada texto la abre (`<nombre>.es.md`), y el enlace
# **English**, el original. Los términos en español son los del glosario (`theory/glossary.md`).

# %% [markdown]
# ## Your name and your notebooks
#
# 1. Choose your language (**English** / **Español**: buttons, messages, lesson boxes and your grading
#    report follow it; switching redraws the form), type your name and press **Remember me**. The
#    language is kept with your name (`learners/<your name>/profile.json`). Your name is remembered for every notebook (in the file
#    `learners/.course-learner`, which git ignores), and your notes go to `learners/<your name>/`.
#    Letters of any alphabet are welcome (`José`, `Zoë`, `李雷`), as are digits, `-`, `_`, `.`, an
#    apostrophe and spaces inside the name. If the environment variable `LEARNER` is set, it wins
#    over the name typed here.
# 2. Press **Make my notebooks**. It copies every course notebook into
#    `learners/<your name>/phase-NN/`, with each exercise waiting for your code (the solutions and
#    the hidden checks are left out), and lists links that open them. **Work in these copies.**
#    Pressing it again never overwrites your work: when the course has changed a notebook since
#    your copy was made, a new copy appears beside yours (`02-dashboard.v2.ipynb`).
#
# The notebooks in `notebooks/` are the instructor's solved versions: running one saves its notes
# to the example learner `example-complete`, never to yours. Without the mouse, the same copies are
# made in a terminal with `.venv/bin/python -m utils.learner_copies --learner "<your name>"`.
#
# **On JupyterHub** your hub login is your name: the form says so and there is nothing to type (nobody
# can write as someone else). Your copies and notes are in `learners/<your login>/` inside your own
# course folder, `~/course`, and **Make my notebooks** works as above (your copies were made when your
# server started).
#
# 🇪🇸 **Español.** En JupyterHub tu usuario del hub es tu nombre: el formulario lo indica y no hay nada que
# escribir (nadie puede escribir como otra persona). Tus copias y notas están en
# `learners/<tu usuario>/`, dentro de tu propia carpeta del curso, `~/course`.
#
# 🇪🇸 **Español.** 1. Elige tu idioma (**Español**: los botones, los mensajes, las lecciones y tu informe
# de corrección aparecen en español), escribe tu nombre y pulsa **Recordarme**. El idioma se guarda con
# tu nombre; el nombre se recuerda en todos los cuadernos y tus notas se guardan en `learners/<tu
# nombre>/`. Para ver también los menús de JupyterLab en español: **Settings → Language → Español
# (España)**. Se aceptan letras de cualquier alfabeto, cifras, `-`, `_`, `.`, un apóstrofo y espacios
# dentro del nombre. 2. Pulsa **Crear mis cuadernos** (**Make my notebooks** en inglés): copia cada
# cuaderno del curso en `learners/<tu nombre>/phase-NN/`, con cada ejercicio esperando tu código, y
# muestra enlaces para abrirlos. **Trabaja en esas copias.** Pulsarlo otra vez nunca sobrescribe tu
# trabajo: si el curso cambió un cuaderno, aparece una copia nueva junto a la tuya. Los cuadernos de
# `notebooks/` son las versiones resueltas del instructor: al ejecutarlos guardan sus notas en el
# estudiante de ejemplo `example-complete`, nunca en las tuyas. En una terminal: `.venv/bin/python -m
# utils.learner_copies --learner "<tu nombre>"`.

# %% tags=["nbval-ignore-output"]
# (the form is interactive: its output depends on what you type and press)
from utils.course.my_notebooks import start_form

start_form()

# %% [markdown]
# Some names cannot be folder names. Here is what the check says about a few:
#
# 🇪🇸 **Español.** Algunos nombres no sirven como nombre de carpeta. Esto dice la comprobación:

# %%
from utils.course.learner import LearnerNameError, validate_learner_name
from utils.text import say

for candidate in ["José", "Zoë", "李雷", "Ana María", "../etc", ".hidden", "   "]:
    try:
        print(f"{candidate!r:12} {say('accepted:', 'aceptado: ')} learners/{validate_learner_name(candidate)}/")
    except LearnerNameError as err:     # err.reason: the refusal without the "Allowed: …" every one ends with
        print(f"{candidate!r:12} {say('refused: ', 'rechazado:')} {err.reason}")

# %% [markdown]
# ## Where your notes go
#
# Run the next cell after pressing **Remember me** (or run it again if you changed your name).
# Each phase has its own notes folder, written by your copies of that phase's notebooks; the course
# writes to it only by adding, never by overwriting: an earlier version of a note is always kept
# beside the new one.
#
# 🇪🇸 **Español.** Ejecuta la celda siguiente después de pulsar **Recordarme**. Cada fase tiene
# su carpeta de notas, que escriben tus copias de los cuadernos de esa fase; el curso solo añade,
# nunca sobrescribe: la versión anterior de una nota se conserva siempre junto a la nueva.

# %% tags=["nbval-ignore-output"]
# (this output depends on who runs the notebook)
from utils.course.learner import current_learner, display_path, learner_dir

try:
    notes = f"{display_path(learner_dir(current_learner()) / 'phase-17' / 'notes')}/"
    print(say(f"Current learner: {current_learner()}", f"Alumno actual: {current_learner()}"))
    print(say(f"Notes of phase 17 go to: {notes}", f"Las notas de la fase 17 van a: {notes}"))
except LearnerNameError as err:
    print(err)
