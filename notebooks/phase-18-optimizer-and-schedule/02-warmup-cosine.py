# %% [markdown]
# # Phase 18 · 2 — Warmup and cosine decay
#
# The learning rate (LR) is the one number that multiplies every Adam step (Phase 18 · 1). The
# course's runs change it every step with the most common schedule for transformers: a **linear
# warmup** followed by a **cosine decay**. This notebook plots it, reads the LR at the spike
# step of the broken run, shows with two real runs what warmup protects against, and shows the
# broken schedule that Phase 19 uses for its "LR discontinuity" failure pattern.
#
# 🇪🇸 **Español.** El learning rate (LR) multiplica cada paso de Adam. Las ejecuciones del curso lo
# cambian en cada paso con el schedule más común para transformers: **warmup lineal** seguido de
# **decaimiento coseno**. Aquí lo dibujamos, leemos el LR en el paso del pico, vemos con dos ejecuciones
# reales de qué protege el warmup, y mostramos el schedule roto que la Fase 19 usa para el patrón
# "discontinuidad del LR".

# %%
import math

import matplotlib.pyplot as plt
import torch

from utils.spikelab import optim_view, symptoms
from utils.spikelab.config import CANONICAL, config_for
from utils.course.exercises import exercise_todo
from utils.text import say
from utils.spikelab.schedule import lr_at, lr_with_jump
from utils.spikelab.train import TrainingRun, run_variant
from utils.course.yours import show

PEAK, WARMUP, TOTAL = CANONICAL.peak_lr, CANONICAL.warmup, CANONICAL.total_steps
print(f"peak LR {PEAK}, warmup {WARMUP} steps, cosine horizon {TOTAL} steps; our runs stop at step {CANONICAL.steps}")

# %% [markdown]
# ## 1. The schedule
#
# `utils/spikelab/schedule.py` defines
#
# ```
# lr_at(step) = peak · (step + 1) / warmup                                 for step < warmup
#             = peak · ½ · (1 + cos(π · (step − warmup) / (total − warmup)))   afterwards (0 at total)
# ```
#
# With the canonical settings the LR climbs from peak/100 at step 0 to the peak 3e-3 at step
# 99, stays there at step 100, and then follows half a cosine down to 0 at step 2000. Our runs
# stop at step 420 (`steps`), long before the end of the cosine: the spike at step 312 happens
# when the LR is still close to its peak.
#
# 🇪🇸 **Español.** El LR sube linealmente desde peak/100 en el paso 0 hasta el pico 3e-3 en el paso
# 99 y luego baja siguiendo medio coseno hasta 0 en el paso 2000. Nuestras ejecuciones paran en
# el paso 420, mucho antes: el pico de la pérdida en el paso 312 ocurre con el LR aún cerca de
# su máximo.

# %%
steps = list(range(TOTAL + 1))
lrs = [lr_at(s, PEAK, WARMUP, TOTAL) for s in steps]
for s in [0, 1, 50, 99, 100, 312, 419, 1050, 1999, 2000]:
    print(f"step {s:4}: lr {lrs[s]:.3e}  ({lrs[s] / PEAK:6.1%} of peak)")
assert math.isclose(lrs[0], PEAK / WARMUP) and math.isclose(lrs[WARMUP - 1], PEAK)
assert math.isclose(lrs[WARMUP], PEAK) and lrs[TOTAL] == 0.0
assert max(lrs) == PEAK and all(a >= b for a, b in zip(lrs[WARMUP:], lrs[WARMUP + 1:]))
assert lrs[CANONICAL.steps - 1] > 0.9 * PEAK     # our runs never leave the high-LR part

# %% [markdown]
# ## 2. The LR at the spike step, from the real run
#
# The broken run's symptoms (the same function the post-mortem uses) record the LR of the spike
# step. In the runs we measured it is
# <span data-run="broken" data-key="lr_at_spike" data-fmt=".2e">2.91e-03</span> (yours is printed
# below): the schedule has barely started to decay. Combined with Phase 18 · 1: at this step a
# never-trained embedding row moves by 1.64 × LR in every coordinate.
#
# 🇪🇸 **Español.** Los síntomas de la ejecución rota registran el LR del paso del pico:
# <span data-run="broken" data-key="lr_at_spike" data-fmt=".2e">2.91e-03</span> en las ejecuciones
# medidas (el de la tuya aparece debajo), casi el máximo. Junto con la Fase 18 · 1: en este paso una
# fila nunca entrenada se mueve 1.64 × LR en cada coordenada.

# %%
broken = symptoms.compute(run_variant("broken"))
print(f"spike step {broken['spike_step']}, LR there {broken['lr_at_spike']:.3e} "
      f"= {broken['lr_at_spike'] / PEAK:.1%} of the peak")
show(say("spike at step {spike_step}, LR there **{lr_at_spike:.2e}**",
         "pico en el paso {spike_step}, LR en ese paso **{lr_at_spike:.2e}**"), broken)
assert 312 <= broken["spike_step"] < 312 + 15                 # within the 15 shard batches from step 312
assert math.isclose(broken["lr_at_spike"], lr_at(broken["spike_step"], PEAK, WARMUP, TOTAL))
assert broken["lr_at_spike"] > 0.9 * PEAK                     # the schedule has barely started to decay

# %% [markdown]
# ## 3. What warmup protects against: a fresh Adam state
#
# At step 1, Adam's moments hold a single gradient, so `m̂ = g` and `√v̂ = |g|`: the ratio
# `m̂ / (√v̂ + ε)` is ±1 for every weight whose gradient is not tiny. A fresh AdamW moves
# **every weight by the full LR**, in the direction of one batch's sign pattern. During the
# next steps `v̂` is still estimated from a handful of gradients, so the steps stay large. The
# cell trains two real runs side by side, the canonical one (warmup 100) and the same run with
# `warmup=1` (full LR from step 0), and measures the median `|m̂ / (√v̂ + ε)|` over all weights
# as training goes on.
#
# 🇪🇸 **Español.** En el paso 1, los momentos de Adam contienen un único gradiente: el cociente es ±1
# para cada peso. Un AdamW recién creado mueve **todos los pesos un LR completo**. En los pasos
# siguientes `v̂` se estima con pocos gradientes y los pasos siguen siendo grandes. La celda entrena dos
# ejecuciones reales, con y sin warmup, y mide la mediana del cociente.

# %%
checkpoints = [1, 2, 5, 10, 20, 50, 100, 200, 400]
runs, median_ratio = {}, {}
for warmup in (WARMUP, 1):
    run = TrainingRun(config_for("healthy", warmup=warmup))
    median_ratio[warmup] = {}
    while run.step_index < run.cfg.steps:
        run.step()
        if run.step_index in checkpoints:
            r = torch.cat([optim_view.adam_ratio(run.opt, p).abs().flatten() for p in run.params])
            median_ratio[warmup][run.step_index] = r[r > 0].median().item()
    runs[warmup] = run
print("steps taken:              " + " ".join(f"{t:7}" for t in checkpoints))
for warmup in (WARMUP, 1):
    print(f"median ratio, warmup {warmup:3}:  " + " ".join(f"{median_ratio[warmup][t]:7.3f}" for t in checkpoints))
    print("  LR of that step:         " + " ".join(f"{runs[warmup].lr(t - 1):7.1e}" for t in checkpoints))
assert median_ratio[WARMUP][1] > 0.99 and median_ratio[1][1] > 0.99
assert median_ratio[WARMUP][100] < 0.3 * median_ratio[WARMUP][1]

# %% [markdown]
# Both runs start with ratio 1 (every weight moves by the LR) and settle to a small fraction
# after some tens of steps. **Warmup keeps the LR small exactly during those first steps**, when
# Adam's moves are biggest and least informed. Without it, the very first step moves each
# weight that has a gradient by 3e-3: for a token-embedding row initialised at std 5e-4, that is six times its own
# size, in a direction set by one batch. What does that do to training? The held-out losses:
#
# 🇪🇸 **Español.** Las dos ejecuciones empiezan con cociente 1 y bajan a una pequeña fracción tras unas
# decenas de pasos. **El warmup mantiene el LR pequeño justo en esos primeros pasos**, cuando los
# movimientos de Adam son mayores y menos informados. Sin él, el primer paso mueve cada peso 3e-3: seis
# veces el tamaño de una fila de embedding recién inicializada.

# %%
fig, ax = plt.subplots(figsize=(8, 3.2), dpi=70)
for warmup, style in [(WARMUP, "C1"), (1, "C3")]:
    h = runs[warmup].log.heldout
    ax.plot(h["step"], h["loss"], color=style, label=f"held-out loss, warmup {warmup}")
ax.set(xlabel="step", ylabel="loss", ylim=(0.9, 3.0), title="healthy run with and without warmup (seed 42)")
ax.legend(frameon=False)
fig.tight_layout()
plt.show()

held = {w: dict(zip(r.log.heldout["step"], r.log.heldout["loss"])) for w, r in runs.items()}
for w in (WARMUP, 1):
    print(f"warmup {w:3}: held-out loss at steps 40, 200, 400 = "
          + ", ".join(f"{held[w][s]:.2f}" for s in (40, 200, 400)))
assert held[1][40] < held[WARMUP][40]            # no warmup: faster at first ...
assert held[1][400] > held[WARMUP][400] + 0.1    # ... and clearly worse in the end

# %% [markdown]
# On this small model, skipping warmup does not blow up: the loss even falls faster during the
# first tens of steps (the LR is larger). But the run settles on a **worse** solution and is
# still clearly behind 400 steps later. After the first hundred steps the two schedules are
# almost the same, so the difference was made early, by full-LR steps taken with an
# uninformed Adam state, and the rest of training does not undo it. (On larger models such
# early steps are a classic cause of immediate divergence; here the damage is quieter.)
#
# 🇪🇸 **Español.** En este modelo pequeño, sin warmup no hay explosión: la pérdida incluso baja más
# rápido al principio. Pero la ejecución acaba en una solución **peor** y sigue claramente por detrás
# 400 pasos después. Tras los primeros cien pasos los dos schedules son casi iguales: la diferencia se
# hizo al principio, con pasos a LR completo y un estado de Adam sin información, y el resto del
# entrenamiento no la deshace.

# %% [markdown]
# ## 4. A broken schedule: the LR discontinuity
#
# `lr_with_jump` is the schedule of Phase 19's "LR discontinuity" pattern (config
# `lr_schedule="jump"`): the warmup climbs only to `lr_jump_from` × peak (0.1 × by default), and
# at step 100 the cosine starts at the full peak, so the LR jumps tenfold from one step to the
# next. Such bugs are common (a resumed run with a different schedule, a warmup configured in
# epochs and a decay in steps). An Adam state tuned to small moves then meets a ten times
# larger LR: every weight's move grows tenfold at once. Phase 19 runs it and shows what the
# dashboard sees.
#
# 🇪🇸 **Español.** `lr_with_jump` es el schedule del patrón "discontinuidad del LR" de la Fase 19: el
# warmup solo llega a 0.1 × el pico y en el paso 100 el coseno empieza en el pico completo: el LR se
# multiplica por diez de un paso al siguiente. La Fase 19 lo ejecuta.

# %%
jump_from = CANONICAL.lr_jump_from
jumped = [lr_with_jump(s, PEAK, WARMUP, TOTAL, jump_from) for s in steps]
print(f"lr_with_jump: step 99 {jumped[99]:.1e}, step 100 {jumped[100]:.1e}  "
      f"(×{jumped[100] / jumped[99]:.0f} in one step)")
assert math.isclose(jumped[100] / jumped[99], 1 / jump_from) and jumped[150:] == lrs[150:]

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3), dpi=70)
left.plot(steps, lrs, color="C0")
left.axvspan(0, CANONICAL.steps, color="0.9", label="our runs (420 steps)")
left.axvline(312, color="C3", lw=0.8, label="spike step 312")
left.set(xlabel="step", ylabel="LR", title="lr_at: warmup + cosine")
left.legend(frameon=False, fontsize=8)
right.plot(steps[:CANONICAL.steps], lrs[:CANONICAL.steps], color="C0", label="lr_at")
right.plot(steps[:CANONICAL.steps], jumped[:CANONICAL.steps], color="C3", ls="--", label="lr_with_jump")
right.set(xlabel="step", title="the first 420 steps")
right.legend(frameon=False, fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 1 — write the schedule yourself
#
# Implement `my_lr_at(step, peak, warmup, total)` from the description in section 1 (no import
# from `utils.spikelab.schedule`). Be careful with the off-by-one of the warmup (step 0 already has a
# non-zero LR) and with steps past `total` (the LR stays 0). The check compares your function
# with `lr_at` on every step from 0 to 2100, for the canonical settings and for a short one.
#
# 🇪🇸 **Español.** Ejercicio 1: implementa `my_lr_at(step, peak, warmup, total)` sin importar
# `utils.spikelab.schedule`. Cuidado con el paso 0 (ya tiene LR no nulo) y con los pasos tras `total`.

# %% tags=["stub"] exercise="my-lr-at"
def my_lr_at(step, peak, warmup, total):
    return exercise_todo("my-lr-at", say("linear warmup to peak, then half a cosine down to 0 at total",
                                         "warmup lineal hasta peak y luego medio coseno hasta 0 en total"))

# %% tags=["solution"] exercise="my-lr-at"
def my_lr_at(step, peak, warmup, total):
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / (total - warmup))
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


print(f"my_lr_at(312) = {my_lr_at(312, PEAK, WARMUP, TOTAL):.3e}")

# %% tags=["check"] exercise="my-lr-at"
from utils.text import say

for _peak, _warmup, _total in [(PEAK, WARMUP, TOTAL), (1.0, 10, 50)]:
    for _s in range(2101):
        assert math.isclose(my_lr_at(_s, _peak, _warmup, _total), lr_at(_s, _peak, _warmup, _total),
                            rel_tol=1e-9, abs_tol=1e-15), \
            say(f"my-lr-at: step {_s} (peak {_peak}, warmup {_warmup}, total {_total}) differs",
                f"my-lr-at: el paso {_s} (pico {_peak}, warmup {_warmup}, total {_total}) no coincide")

# %% [markdown]
# ### Exercise 2 — when is the LR half the peak?
#
# Find `half_step`: the first step at which `lr_at` falls below half the peak (canonical
# settings). First guess it from the formula (where is the cosine's half?), then compute it,
# and answer the question below.
#
# 🇪🇸 **Español.** Ejercicio 2: encuentra `half_step`, el primer paso en que `lr_at` baja de la
# mitad del pico. Adivínalo primero con la fórmula, calcúlalo y responde a la pregunta de debajo.

# %% tags=["stub"] exercise="half-lr-step"
half_step = exercise_todo("half-lr-step", say("the first step where lr_at(step, ...) < PEAK / 2",
                                              "el primer paso en el que lr_at(step, ...) < PEAK / 2"))

# %% tags=["solution"] exercise="half-lr-step"
half_step = next(s for s in range(WARMUP, TOTAL + 1) if lr_at(s, PEAK, WARMUP, TOTAL) < PEAK / 2)
print(f"half the peak at step {half_step}; the cosine's middle is at warmup + (total − warmup)/2 = "
      f"{WARMUP + (TOTAL - WARMUP) // 2}")

# %% tags=["check"] exercise="half-lr-step"
from utils.text import say

assert lr_at(half_step, PEAK, WARMUP, TOTAL) < PEAK / 2 <= lr_at(half_step - 1, PEAK, WARMUP, TOTAL), say(
    "half-lr-step: the LR should be ≥ half the peak one step before half_step and below it at half_step",
    "half-lr-step: el LR debería ser ≥ la mitad del pico un paso antes de half_step y quedar por debajo en half_step")
assert half_step > CANONICAL.steps, say("half-lr-step: our runs stop at step 420",
                                        "half-lr-step: nuestras ejecuciones terminan en el paso 420")

# %% [markdown]
# ### Question — where on the schedule is the spike?
#
# Pick an option and press **Check** (your answer is recorded in your notes for the grader; the
# last one counts). `lr_at(312, PEAK, WARMUP, TOTAL) / PEAK` is one line away if you want to be sure.
#
# 🇪🇸 **Español.** Elige una opción y pulsa **Comprobar** (tu respuesta se guarda en tus notas; cuenta
# la última). `lr_at(312, PEAK, WARMUP, TOTAL) / PEAK` está a una línea si quieres asegurarte.

# %%
from utils.course.choice import Choice

spike_lr_q = Choice("18.02", "spike-on-schedule", say(
    "Phase 19's spike comes at step 312, and every run of the course stops at step 420. Where on this "
    "schedule does the spike happen?",
    "El pico de la Fase 19 llega en el paso 312, y todas las ejecuciones del curso paran en el 420. ¿En qué "
    "parte de este schedule ocurre el pico?"), options={
    "a": (say("High on the cosine: the LR is still above 90 % of its peak.",
              "Arriba en el coseno: el LR sigue por encima del 90 % de su pico."),
          say("The cosine has only just begun to fall at step 312 (half_step is far beyond 420): the spike "
              "happens where Adam's full-size moves, scaled by the LR, are as large as they will ever be.",
              "El coseno apenas ha empezado a bajar en el paso 312 (half_step queda muy lejos de 420): el pico "
              "ocurre donde los movimientos de Adam, escalados por el LR, son los mayores del entrenamiento.")),
    "b": (say("In the warmup, where the LR is still small.", "En el warmup, con el LR aún pequeño."),
          say("The warmup ends at step WARMUP = 100; by step 312 the LR has been at its peak for two hundred "
              "steps.",
              "El warmup acaba en el paso WARMUP = 100; en el 312 el LR lleva doscientos pasos en su pico.")),
    "c": (say("Past the middle of the cosine: the LR is already below half its peak.",
              "Pasada la mitad del coseno: el LR ya está por debajo de la mitad de su pico."),
          say("Your half_step says otherwise: the LR falls below half its peak only long after step 420, "
              "which no run of the course reaches.",
              "Tu half_step dice lo contrario: el LR baja de la mitad de su pico mucho después del paso 420, "
              "al que no llega ninguna ejecución del curso.")),
}, right="a")

# %% tags=["stub"] exercise="spike-on-schedule"
spike_lr_q   # choose an option and press Check / elige una opción y pulsa Comprobar

# %% tags=["solution"] exercise="spike-on-schedule"
spike_lr_q.choose("a")

# %%
print(f"LR at step 312: {lr_at(312, PEAK, WARMUP, TOTAL) / PEAK:.0%} of the peak")
assert WARMUP < 312 and lr_at(CANONICAL.steps, PEAK, WARMUP, TOTAL) > 0.9 * PEAK

# %% [markdown]
# No run of the course gets there: all of them stop at step 420, when the LR is still above 90 %
# of its peak. The spike of Phase 19 happens in the **high-LR part** of training, where Adam's
# bounded but full-size moves are as large as they will ever be.
#
# 🇪🇸 **Español.** Ninguna ejecución del curso llega: todas paran en el paso 420, con el LR aún por
# encima del 90 % del pico. El pico de la Fase 19 ocurre en la parte de **LR alto**.

# %% [markdown]
# ## Your lesson from this notebook
#
# Write the one thing from this notebook that you would do differently next time, in one line,
# and press **Save lesson**. It is appended, dated and tagged with this notebook (`notebook 18.02`), to
# `learners/<you>/phase-18/notes/lessons.md`; the grader looks for one lesson per notebook.
#
# 🇪🇸 **Español.** Escribe en una línea lo que harías distinto la próxima vez tras este cuaderno y pulsa
# **Guardar lección**. Se añade, con la fecha y la etiqueta de este cuaderno (`notebook 18.02`), a
# `learners/<tú>/phase-18/notes/lessons.md`; el corrector busca una lección por cuaderno.

# %% tags=["nbval-ignore-output"]
from utils.course.lesson_box import lesson_box

lesson_box("18.02")
