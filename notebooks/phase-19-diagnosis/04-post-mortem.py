# %% [markdown]
# # 19.4 · The loss-spike post-mortem, one section at a time
#
# You have reproduced the spike of run `19-spike-001` (the §A13 grammar tutor, variant `broken`,
# seed 42), read its dashboard and matched it against the failure patterns. Now you write it up.
# A **post-mortem** is the short document a team writes after an incident so that the next one
# is shorter: what was seen, what it could have been, what decided between the candidates, the
# one cause, the smallest fix, how to prove the fix worked, and the one line to remember.
#
# The course's template has seven sections, always in this order. This notebook walks them one
# at a time: for each, why it exists (and what goes wrong when it is skipped), the dashboard
# panels it draws on, and a form to fill in. A validator checks each section, §1 is compared with
# the run log, and the whole post-mortem is saved to
# `learners/<you>/phase-19/notes/postmortems/19-spike-001.md`, its lesson to `lessons.md`, and the
# run log of the run you read it from beside them (`run-logs/19-spike-001.json.gz`).
# The theory text `theory/phase-19/04-loss-spike-post-mortem.md` shows the finished document.
#
# 🇪🇸 **Español.** Ya reprodujiste el pico de la ejecución `19-spike-001`, leíste su dashboard y lo
# comparaste con los patrones de fallo. Ahora lo pones por escrito. Un **post-mortem** es el documento
# breve que se escribe tras un incidente para que el siguiente dure menos: qué se vio, qué podía ser,
# qué decidió entre las candidatas, la causa, el arreglo más pequeño, cómo probar que funcionó y la
# línea que hay que recordar. La plantilla tiene siete secciones; este cuaderno las recorre una a una,
# con su porqué, los paneles que usa y un formulario. Se guarda en
# `learners/<tú>/phase-19/notes/postmortems/19-spike-001.md`, junto con el registro de tu ejecución
# (`run-logs/19-spike-001.json.gz`).

# %%
from IPython.core.pylabtools import print_figure
from IPython.display import Image

from utils.diagnosis import dashboard
from utils import postmortem
from utils.spikelab import symptoms
from utils.spikelab.thresholds import DAMAGE_SIGMA, GRAD_SPIKE_RATIO, NOISE_SIGMA
from utils.course.choice import Choice
from utils.course.exercises import exercise_todo
from utils.postmortem import (PANELS, SECTION_HEADINGS, SECTION_WHY, Evidence, Expectation, Hypothesis,
                              PostMortem, Verification)
from utils.postmortem.forms import PostMortemWorkbook
from utils.course.learner import notes_owner_line
from utils.course.postmortem_notes import LearnerPostmortems
from utils.spikelab.train import run_variant
from utils.postmortem import verification
from utils.text import say

RUN_ID = "19-spike-001"
log = run_variant("broken", seed=42)       # the canonical run (a few seconds)
sym = symptoms.compute(log)                # what the run log says: the reference for §1
assert log.run_id == RUN_ID and sym["spike_step"] == 312


def panels(run_log, numbers, rows=1, step=312, window=(280, 420)):
    """The dashboard panels `numbers` of a run, as a small image (the post-mortem cites them by number)."""
    fig = dashboard.draw(run_log, panels=numbers, step=step, window=window, figsize=(9, 0.4 + 1.6 * rows))
    return Image(print_figure(fig, "png", dpi=60))


print(f"run {log.run_id}: {len(log)} steps, spike at step {sym['spike_step']}, "
      f"loss {sym['peak_loss']:.3g} = {sym['loss_ratio']:.2g}× its EMA")

# %% [markdown]
# The post-mortem lives in a **workbook**: seven forms, one per section, that share one
# post-mortem, and the run log they are read from (`log`, the run above). Saving the post-mortem
# also saves that run log beside it. If you saved answers before, `wb.load()` puts them back into
# the forms, with the run log saved with them, so you can close the notebook and continue later.
#
# 🇪🇸 **Español.** El post-mortem vive en un **cuaderno de trabajo** con siete formularios, uno por
# sección, y el registro de la ejecución de la que se leen (`log`). Al guardar el post-mortem se
# guarda también ese registro a su lado. Si ya guardaste respuestas, `wb.load()` las vuelve a poner
# en los formularios, con el registro que guardaste con ellas.

# %% tags=["nbval-ignore-output"]
# (what it says depends on whether you saved this post-mortem before)
wb = PostMortemWorkbook(RUN_ID, run_log=log, notes=LearnerPostmortems())
wb.load()
print("\n".join(wb.messages))
print(notes_owner_line())     # a master notebook saves to the example learner, whoever runs it

# %% [markdown]
# ## The template
#
# The file starts with `# Loss spike post-mortem — <date> — <run-id>` and then has exactly these
# seven numbered sections. Each exists because skipping it breaks something specific; the
# validator uses the same words when it finds a section empty.
#
# 🇪🇸 **Español.** El archivo empieza con `# Loss spike post-mortem — <fecha> — <id de ejecución>` y
# tiene exactamente estas siete secciones numeradas. Cada una existe porque saltársela rompe algo
# concreto; el validador usa las mismas palabras cuando encuentra una sección vacía.

# %% tags=["nbval-check-output"]
for n, heading in SECTION_HEADINGS.items():
    print(f"{heading[3:]:28} skipped: {SECTION_WHY[n]}")

# %% [markdown]
# ## §1 Symptoms — numbers only
#
# **Why.** Symptoms are what anyone can check: the step, the losses, the gradient norm, the
# learning rate, the dtype, the batch and its unusual tokens. Written as numbers, they let the
# next person tell whether *their* spike is this one. Skip them (or write "the loss went up a
# lot") and every later section floats: nobody can tell whether the remediation changed
# anything. The validator refuses prose in a numeric field ("about 4" is not a number).
#
# **Panels.** 1 (loss and EMA: spike step, EMA before, peak, recovery), 2 (learning rate),
# 3 (pre-clip gradient norm), 7 (per-token losses of the spike's batch: the unusual tokens).
# The batch index and dtype come from the run log's header and panel 6.
#
# 🇪🇸 **Español.** **Por qué.** Los síntomas son lo que cualquiera puede comprobar: el paso, las
# pérdidas, la norma del gradiente, el learning rate, el tipo numérico, el batch y sus tokens inusuales.
# Escritos como números permiten saber si otro pico es este mismo. Sin ellos nada de lo que sigue se
# puede comprobar. El validador rechaza texto en un campo numérico. **Paneles.** 1, 2, 3 y 7.

# %%
panels(log, [1, 2, 3, 7], rows=2)

# %%
s312 = dashboard.step_summary(log, 312)
for key in ["loss", "ema", "loss_to_ema", "lr", "grad_norm_preclip", "rare_rows_share", "top_token_losses"]:
    print(f"{key:18} {s312[key]}")
# the spike begins at 312; its peak is there or one step later (it varies from run to run)
assert s312["loss_to_ema"] >= 2 and s312["loss"] <= sym["peak_loss"] + 1e-3 and s312["rare_rows_share"] > 0.99

# %% [markdown]
# Fill the form below. **Draft from the run log** pre-fills every field from
# `utils.spikelab.symptoms.compute(log)` and marks it *drafted*: a drafted field counts only once you have
# checked it on the dashboard and ticked **confirm** (the validator names every drafted field
# still unconfirmed). **Compare with the run log** checks what you typed against the run log
# within stated tolerances, so you can also type the numbers yourself from the panels and see how
# close your reading was.
#
# Your numbers are your machine's. The runs are chaotic in the last bits of the arithmetic: another
# computer (another CPU, another PyTorch build) trains the same spike at the same step with other
# losses and gradient norms. So §1 travels with its run: saving the post-mortem saves this run's
# log beside it (`learners/<you>/phase-19/notes/run-logs/19-spike-001.json.gz`, compressed), and
# whoever checks your §1 (you, next week, or the instructor's grader on their machine) compares it
# with that saved run log, never with a run of their own.
#
# 🇪🇸 **Español.** Rellena el formulario. **Draft from the run log** lo rellena a partir del registro
# y marca cada campo como *borrador*: solo cuenta cuando lo has comprobado en el panel y marcado
# **confirm**. **Compare with the run log** compara lo que escribiste con el registro dentro de
# unas tolerancias fijas. Tus números son los de tu máquina (otra máquina da el mismo pico con
# otros números): al guardar el post-mortem se guarda también el registro de tu ejecución a su
# lado, y quien corrija tu §1 lo compara con ese registro, nunca con una ejecución suya.

# %% tags=["nbval-ignore-output"]
wb.symptoms

# %% [markdown]
# The tolerances, and what the comparison says about three typical misreadings: the step where
# the *held-out* loss peaks typed as the spike step, the gradient *ratio* typed in place of the
# norm, and only the headline piece among the unusual tokens.
#
# 🇪🇸 **Español.** Las tolerancias, y lo que dice la comparación de una lectura típica de los paneles.

# %%
for name, tol in postmortem.DEFAULT_TOLERANCES.items():
    print(f"{name:18} {tol.describe()}")
typed = postmortem.draft_symptoms(sym)
typed.spike_step = str(sym["heldout_peak_step"])
typed.grad_norm_preclip = f"{sym['grad_norm_ratio']:.0f}"
typed.unusual_tokens = [sym["rare_piece"]]
checks = postmortem.compare_symptoms(typed, sym)
print()
for c in checks:
    print(("✓ " if c.ok else "✗ ") + c.message)
assert [c.field for c in checks if not c.ok] == ["spike_step", "grad_norm_preclip", "unusual_tokens"]

# %% [markdown]
# ## §2 Hypotheses — at least three, ranked, each citing panels
#
# **Why.** The first explanation that comes to mind wins by default unless it has rivals. Writing
# three or more, ranked, each with the panels that support it, forces you to look at the panels
# you had not looked at yet, and gives §3 something to discriminate between. Skipped, the
# post-mortem confirms whatever you believed before opening the dashboard.
#
# **Panels.** The four we have not used yet: 4 (activations), 5 (Adam moments), 6 (batch
# composition), 8 (non-finite parameters). Candidates for this run include: the run of
# consecutive shard batches (panels 1, 6); the rare piece's gradient spike damaging the shared
# weights (3, 5, 7); a learning-rate jump (2); a numerical overflow (8).
#
# 🇪🇸 **Español.** **Por qué.** La primera explicación gana por defecto si no tiene rivales. Escribir
# tres o más, ordenadas y cada una con sus paneles, obliga a mirar los paneles que aún no miraste y da a
# la §3 algo entre lo que decidir. **Paneles.** 4, 5, 6 y 8. Candidatas: la racha de batches
# consecutivos del shard (1, 6); el pico de gradiente de la pieza rara (3, 5, 7); un salto del learning
# rate (2); un overflow numérico (8).

# %%
panels(log, [4, 5, 6, 8], rows=2)

# %% tags=["nbval-ignore-output"]
wb.hypotheses

# %% [markdown]
# ## §3 Discriminating evidence — here the controls are the evidence
#
# **Why.** Evidence that fits every hypothesis decides nothing. A row of §3 names a panel, an
# observation, the hypothesis it favours and the ones it **rules out**; the validator refuses a
# row that rules nothing out and complains while a rival is still standing. Skipped, the root
# cause is a guess.
#
# For this run the decisive evidence is not in the broken run's panels at all: it comes from
# **control runs**, each changing one thing of the broken run and keeping the seed.
#
# | variant | what it changes |
# |---|---|
# | `control-common-piece` | the shard's rare pieces are spelled with well-trained pieces: same sentences, same order, no rare piece |
# | `control-no-rare-piece` | "written"/"bitten" become "read"/"taken": the shard holds no rare word |
# | `control-mixed-shard` | the same 20 sentences, shuffled into the stream from the start: no run of shard batches |
# | `one-batch` | the rare sentences all in the single batch at step 312: the rare piece without the run of batches |
#
# 🇪🇸 **Español.** **Por qué.** Una evidencia compatible con todas las hipótesis no decide nada. Cada
# fila de la §3 nombra un panel, una observación, la hipótesis que favorece y las que **descarta**. Aquí
# la evidencia decisiva viene de **ejecuciones de control** que cambian una sola cosa: piezas raras
# escritas con piezas comunes; sin palabras raras; el shard barajado desde el principio; las frases
# raras en un único batch.

# %%
CONTROLS = ["control-common-piece", "control-no-rare-piece", "control-mixed-shard", "one-batch"]
logs = {"broken": log, **{name: run_variant(name, seed=42) for name in CONTROLS}}
results = {name: symptoms.compute(run) for name, run in logs.items()}
print(f"gradient spike: grad ratio ≥ {GRAD_SPIKE_RATIO}; damage: held-out rise ≥ {DAMAGE_SIGMA} σ of its noise "
      f"(small from {NOISE_SIGMA} σ, no damage below)\n")
print(verification.format_comparison(results))

# %% [markdown]
# Read the table column by column. `one-batch` has the gradient spike
# (<span data-run="one-batch" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 18</span>×) and no damage
# (<span data-run="one-batch" data-key="heldout_rise_sigma" data-fmt=".1f">-3.3–8.6</span> σ, within
# far below the `DAMAGE_SIGMA` = 10 σ damage bar in every run we measured, and usually within the
# `NOISE_SIGMA` = 3 σ of noise); `control-common-piece` has the damage
# (<span data-run="control-common-piece" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 7.5</span> σ)
# and a gradient rise at least four times smaller than `broken`'s in every run we measured (in
# almost every run below the course's `GRAD_SPIKE_RATIO` = 15× bar: a run of unfamiliar batches
# lifts the gradient norm several times above its median, but far less than the rare piece does).
# Your table above says which side of the bar your run landed on; the exercise applies the rule
# to your numbers.
# So the two travel separately: **the rare piece causes the gradient spike**, and **the run of
# consecutive same-kind batches causes the damage**. `control-mixed-shard` has neither, by the same
# two bars
# (<span data-run="control-mixed-shard" data-key="grad_norm_ratio" data-fmt=".1f" data-bound="max">&lt; 15</span>×,
# <span data-run="control-mixed-shard" data-key="heldout_rise_sigma" data-fmt=".1f">-2.9–5.9</span> σ):
# the same sentences do no harm when they are spread out. The panels show it: in `one-batch` the
# needle of panel 3 is there and the held-out loss of panel 1 barely moves; in
# `control-common-piece` panel 3 shows only a low bump and the held-out loss climbs.
#
# 🇪🇸 **Español.** `one-batch` tiene el pico de gradiente
# (<span data-run="one-batch" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 18</span>×)
# y ningún daño (muy por debajo del umbral de daño de 10 σ en todas las rutas de kernels medidas);
# `control-common-piece` tiene el daño
# (<span data-run="control-common-piece" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 7.5</span>
# σ) y ningún pico de gradiente según el umbral del curso
# (<span data-run="control-common-piece" data-key="grad_norm_ratio" data-fmt=".1f" data-bound="max">&lt; 110</span>×,
# por debajo de 15×, aunque no es plano: una racha de batches desconocidos sube la norma varias veces).
# Los dos mecanismos van por separado: **la pieza rara causa el pico de gradiente** y **la racha de
# batches consecutivos del mismo tipo causa el daño**. `control-mixed-shard` no tiene ninguno de los
# dos.

# %%
panels(logs["one-batch"], [1, 3])

# %%
panels(logs["control-common-piece"], [1, 3])

# %% [markdown]
# ### Exercise: which runs tell the two mechanisms apart?
#
# A run in which both mechanisms happen (`broken`) or neither (`control-mixed-shard`) cannot say
# which one did the damage. Write `one_without_the_other(results)`: the sorted names of the runs in
# `results` where **one mechanism happened without the other**, each judged by the course's bar
# printed above the table (`GRAD_SPIKE_RATIO` for a gradient spike, `DAMAGE_SIGMA` for damage; a
# value on the bar counts as reaching it). The check tries it on your table and on made-up ones.
#
# 🇪🇸 **Español.** Una ejecución con los dos mecanismos (`broken`) o con ninguno
# (`control-mixed-shard`) no puede decir cuál hizo el daño. Escribe `one_without_the_other(results)`:
# los nombres, ordenados, de las ejecuciones de `results` en las que **un mecanismo ocurrió sin el
# otro**, cada uno juzgado con la barra del curso impresa encima de la tabla (`GRAD_SPIKE_RATIO` para
# el pico de gradiente, `DAMAGE_SIGMA` para el daño; un valor justo en la barra la alcanza). La
# comprobación la prueba con tu tabla y con tablas inventadas.

# %% tags=["stub"] exercise="one-without-the-other"
def one_without_the_other(results):
    return exercise_todo("one-without-the-other", say("the runs where exactly one of the two mechanisms happened",
                                                      "las ejecuciones en las que se dio exactamente uno de los dos "
                                                      "mecanismos"))


print(one_without_the_other(results))

# %% tags=["solution"] exercise="one-without-the-other"
def one_without_the_other(results):
    def spike(r):
        return r["grad_norm_ratio"] >= GRAD_SPIKE_RATIO

    def damage(r):
        return r["heldout_rise_sigma"] >= DAMAGE_SIGMA

    return sorted(name for name, r in results.items() if spike(r) != damage(r))


print(one_without_the_other(results))

# %% tags=["check"] exercise="one-without-the-other"
from utils.text import say


def _alone(table):
    """The rule: a gradient spike (ratio at or above its bar) or damage (rise at or above its bar), not both."""
    return sorted(name for name, r in table.items()
                  if (r["grad_norm_ratio"] >= GRAD_SPIKE_RATIO) != (r["heldout_rise_sigma"] >= DAMAGE_SIGMA))


_made_up = {
    "both": {"grad_norm_ratio": 40.0, "heldout_rise_sigma": 30.0},
    "neither": {"grad_norm_ratio": 2.0, "heldout_rise_sigma": 1.0},
    "spike-on-the-bar": {"grad_norm_ratio": float(GRAD_SPIKE_RATIO), "heldout_rise_sigma": -2.0},
    "damage-on-the-bar": {"grad_norm_ratio": 3.0, "heldout_rise_sigma": float(DAMAGE_SIGMA)},
    "just-below-both": {"grad_norm_ratio": GRAD_SPIKE_RATIO - 0.01, "heldout_rise_sigma": DAMAGE_SIGMA - 0.01},
}
for _table in (results, _made_up, {"a": _made_up["both"]}, {}):
    _got = one_without_the_other(_table)
    assert list(_got) == _alone(_table), say(
        f"one-without-the-other: for the runs {sorted(_table)} the rule gives {_alone(_table)}, you gave {_got}",
        f"one-without-the-other: con las ejecuciones {sorted(_table)} la regla da {_alone(_table)}, tú diste {_got}")
# %%
r = results
assert r["one-batch"]["grad_norm_ratio"] >= GRAD_SPIKE_RATIO and r["one-batch"]["heldout_rise_sigma"] < DAMAGE_SIGMA
assert r["one-batch"]["heldout_rise_sigma"] * 4 < r["broken"]["heldout_rise_sigma"]   # a fraction of broken's
for name in ["control-common-piece", "control-no-rare-piece"]:   # the damage without the rare piece's spike
    assert r[name]["grad_norm_ratio"] * 4 < r["broken"]["grad_norm_ratio"] and r[name]["heldout_rise_sigma"] >= DAMAGE_SIGMA
assert r["control-no-rare-piece"]["grad_norm_ratio"] < GRAD_SPIKE_RATIO       # no spike by the course's bar
assert r["control-mixed-shard"]["grad_norm_ratio"] < GRAD_SPIKE_RATIO
assert r["control-mixed-shard"]["heldout_rise_sigma"] < DAMAGE_SIGMA / 2
assert max(log.steps["nonfinite_params"]) == 0 and sym["dtype"] == "float32"     # panel 8: no overflow
assert abs(log.steps["lr"][312] - log.steps["lr"][311]) < 1e-3 * log.steps["lr"][311]  # panel 2: no jump

# %% [markdown]
# ### Question: what does `one-batch` rule out?
#
# A row of §3 must rule a hypothesis out. Decide which one `one-batch` rules out on its own, before
# you write its row.
#
# 🇪🇸 **Español.** ### Pregunta: ¿qué descarta `one-batch`? Una fila de la §3 debe descartar una
# hipótesis. Decide cuál descarta `one-batch` por sí sola antes de escribir su fila.

# %%
rules_out_q = Choice("19.04", "one-batch-rules-out", say(
    "one-batch has the gradient spike at step 312 and no damage. Which hypothesis does it rule out on its own?",
    "one-batch tiene el pico de gradiente en el paso 312 y ningún daño. ¿Qué hipótesis descarta por sí sola?"),
    options={
        "a": (say("The shard's consecutive batches made the model forget ordinary sentences",
                  "Los batches consecutivos del shard hicieron olvidar al modelo las frases normales"),
              say("No: one-batch has no run of shard batches, so it does not test this hypothesis; the controls "
                  "that keep the run of batches do (they are damaged without the spike).",
                  "No: one-batch no tiene racha de batches del shard, así que no pone a prueba esta hipótesis; "
                  "la ponen a prueba los controles que la conservan (tienen daño sin el pico).")),
        "b": (say("The rare piece's gradient spike damaged the shared weights",
                  "El pico de gradiente de la pieza rara dañó los pesos compartidos"),
              say("The same spike at the same step, and the held-out loss stays below the damage bar: the spike "
                  "is not enough to do the damage. The controls add that it is not needed either.",
                  "El mismo pico en el mismo paso, y la pérdida de validación queda por debajo de la barra de "
                  "daño: el pico no basta para hacer el daño. Los controles añaden que tampoco hace falta.")),
        "c": (say("The learning rate jumped at the spike step", "El learning rate saltó en el paso del pico"),
              say("No: one-batch keeps the same schedule, so it says nothing about it; panel 2 of the broken run "
                  "rules it out (a change of less than 0.1 % at step 312).",
                  "No: one-batch tiene el mismo schedule y no dice nada de esto; lo descarta el panel 2 de la "
                  "ejecución rota (un cambio de menos del 0,1 % en el paso 312).")),
        "d": (say("A numerical overflow corrupted the weights", "Un desbordamiento numérico corrompió los pesos"),
              say("No: one-batch says nothing about it; panel 8 of the broken run rules it out (no non-finite "
                  "parameter at any step, float32).",
                  "No: one-batch no dice nada de esto; lo descarta el panel 8 de la ejecución rota (ningún "
                  "parámetro no finito, float32).")),
    }, right="b")

# %% tags=["stub"] exercise="one-batch-rules-out"
rules_out_q   # choose an option and press Check / elige una opción y pulsa Comprobar

# %% tags=["solution"] exercise="one-batch-rules-out"
rules_out_q.choose("b")

# %% [markdown]
# Two more rows come from the broken run itself: panel 2 shows the learning rate moving smoothly
# through step 312 (a change of less than 0.1 % from step 311), and panel 8 shows no non-finite
# parameter at any step. Fill your evidence rows; rank numbers refer to your §2.
#
# 🇪🇸 **Español.** Dos filas más salen de la propia ejecución: el panel 2 muestra un learning rate suave
# en el paso 312 y el panel 8 ningún parámetro no finito.

# %% tags=["nbval-ignore-output"]
wb.evidence

# %% [markdown]
# ## §4 Root cause — exactly one sentence
#
# **Why.** One sentence forces a decision: which of the standing explanations is *the* cause, and
# through which mechanism. Two sentences usually mean two causes and no decision, and a
# remediation that treats a symptom. The validator counts sentences (it knows that "e.g.", "2.5"
# and "1e-8" do not end one).
#
# **Panels.** 1 and 6 over the whole run: the shard's fifteen consecutive batches (panel 6) and
# the held-out loss that rises after them and recovers once ordinary data returns (panel 1).
#
# 🇪🇸 **Español.** **Por qué.** Una sola frase obliga a decidir cuál es *la* causa y por qué
# mecanismo; dos frases suelen ser dos causas y ninguna decisión. **Paneles.** 1 y 6 sobre toda
# la ejecución.

# %%
panels(log, [1, 6], window=None)

# %%
two = PostMortem(RUN_ID, "2026-11-23", root_cause="The shard came as one block. The rare piece spiked the gradient.")
print(postmortem.format_problems(postmortem.validate(two, sections=[4])))

# %% tags=["nbval-ignore-output"]
wb.root_cause

# %% [markdown]
# ## §5 Remediation — the smallest change
#
# **Why.** The smallest change that removes the root cause is the one you can test, explain and
# keep. A plan of five changes cannot be verified (which one worked?) and usually hides the one
# that mattered. Skipped, the post-mortem changes nothing. The validator stops at 40 words.
#
# **Panels.** 6 and 1 of `control-mixed-shard`: the same sentences, shuffled in from the start,
# so no batch is a shard batch and the held-out loss stays flat.
#
# 🇪🇸 **Español.** **Por qué.** El cambio más pequeño que elimina la causa es el que se puede probar,
# explicar y conservar; un plan de cinco cambios no se puede verificar. **Paneles.** 6 y 1 de
# `control-mixed-shard`.

# %%
panels(logs["control-mixed-shard"], [1, 6])

# %% tags=["nbval-ignore-output"]
wb.remediation

# %% [markdown]
# ## §6 Verification — seed, ε, step T, numeric expectations
#
# **Why.** "It looks better" is not a verification. §6 says how to rerun (the seed), how far a
# number may miss because reruns differ (ε), up to which step T (after the spike), and which
# numbers must hold: each a metric, a comparator and a value. The metrics are the keys of
# `utils.spikelab.symptoms.compute`, so the next notebook checks them against fresh runs with
# `utils.postmortem.verification.check_expectations`. Skipped, nobody can tell whether the fix worked.
#
# A good expectation fails on the broken run and passes on the fixed one, on a rerun too: the
# held-out row asks for less than half the damage bar, not for "within noise", because the
# shuffled run's own rise varies from run to run (within the 3 σ noise in most runs we measured,
# a little above it in one). Below, the worked example's expectations against the broken run and
# against `control-mixed-shard`.
#
# 🇪🇸 **Español.** **Por qué.** "Se ve mejor" no es una verificación. La §6 dice con qué semilla repetir,
# cuánto puede desviarse un número (ε), hasta qué paso T y qué números deben cumplirse. Las métricas son
# las claves de `utils.spikelab.symptoms.compute`. Una buena expectativa falla en la ejecución rota y se
# cumple en la arreglada, también al repetirla: por eso la fila del conjunto de validación pide menos de
# la mitad de la barra de daño, no "dentro del ruido".

# %%
EXPECTATIONS = [f"heldout_rise_sigma < {DAMAGE_SIGMA / 2:g}", "post_event_ratio < 1.1", "loss_ratio < 1.5",
                f"grad_norm_ratio < {GRAD_SPIKE_RATIO}"]
for name in ["broken", "control-mixed-shard"]:
    rows = verification.check_expectations(EXPECTATIONS, results[name], tolerance=0.05)
    print(verification.format_table(rows, title=f"— {name}"), end="\n\n")
    assert verification.all_passed(rows) == (name == "control-mixed-shard")

# %% tags=["nbval-ignore-output"]
wb.verification

# %% [markdown]
# ## §7 Lesson — one line
#
# **Why.** The lesson is what you will actually remember next time, so it must fit in one line:
# it is appended to `learners/<you>/phase-19/notes/lessons.md`, one line per post-mortem, and
# read again before the next run. Skipped, the next run repeats this one.
#
# **Panels.** None new: a good lesson names the panel to look at first next time.
#
# 🇪🇸 **Español.** **Por qué.** La lección es lo que de verdad recordarás, así que cabe en una línea:
# se añade a `lessons.md`. Sin ella, la próxima ejecución repite esta.

# %% tags=["nbval-ignore-output"]
wb.lesson

# %% [markdown]
# ## The whole post-mortem: check, save, reopen
#
# Below, all seven forms together with **Save** and **Save + record lesson** (earlier versions are
# never overwritten: a changed post-mortem keeps the previous one as `19-spike-001.v1.md`).
#
# 🇪🇸 **Español.** Abajo, los siete formularios juntos con **Guardar** y **Guardar + anotar lección** (las
# versiones anteriores nunca se sobrescriben).

# %% tags=["nbval-ignore-output"]
wb

# %% [markdown]
# ### Exercise: your post-mortem
#
# Fill the seven forms above, then run the cell below: it reads your answers from the forms. The
# master copy of this notebook fills them with the course's worked example instead (the numbers
# are the run's, the text cites panels), which is what the next cells show. The check wants no
# problem left and a §1 that matches the run log within the tolerances.
#
# 🇪🇸 **Español.** Rellena los siete formularios y ejecuta la celda siguiente, que lee tus respuestas.
# La copia maestra del cuaderno los rellena con el ejemplo resuelto del curso.

# %% tags=["stub"] exercise="postmortem-19-spike-001"
pm = wb.to_postmortem()   # your seven sections, as typed in the forms above

# %% tags=["solution"] exercise="postmortem-19-spike-001"
DATE = "2026-11-23"          # a fixed date, so that the worked example is the same on every build
wb.use_run_log(log)          # the worked example reads §1 from this notebook's run (not an earlier saved one)
ob, cc, nr, mx = (results[name] for name in ["one-batch", "control-common-piece", "control-no-rare-piece",
                                               "control-mixed-shard"])
first = postmortem.draft_symptoms(sym)        # §1 from the run log, each field marked drafted ...
first.confirmed = set(first.drafted)          # ... and confirmed after checking it on panels 1, 2, 3, 6, 7
example = PostMortem(
    run_id=RUN_ID, date=DATE, symptoms=first,
    hypotheses=[
        Hypothesis(1, "The late shard's 15 consecutive batches of the same 20 rare-participle sentences made "
                      "the model forget ordinary sentences", [1, 6]),
        Hypothesis(2, f"The rare piece tten's never-trained embedding rows gave a gradient spike of "
                      f"{sym['grad_norm_ratio']:.0f}× whose update damaged the shared weights", [3, 5, 7]),
        Hypothesis(3, "The learning rate jumped at the spike step", [2]),
        Hypothesis(4, "A numerical overflow (inf/NaN) corrupted the weights", [8]),
    ],
    evidence=[
        Evidence(2, f"the lr moves smoothly through the spike ({log.steps['lr'][311]:.6f} at 311, "
                    f"{log.steps['lr'][312]:.6f} at 312)", favours=1, rules_out=[3]),
        Evidence(8, "no non-finite parameter at any step, dtype float32", favours=1, rules_out=[4]),
        Evidence(3, f"one-batch (the rare sentences in batch 312 only): gradient spike {ob['grad_norm_ratio']:.0f}×, "
                    f"held-out rise {ob['heldout_rise_sigma']:.1f} σ: the spike alone does no damage",
                 favours=1, rules_out=[2]),
        Evidence(1, f"control-common-piece (no rare piece, same shard): a gradient rise of only "
                    f"{cc['grad_norm_ratio']:.1f}× ({sym['grad_norm_ratio'] / cc['grad_norm_ratio']:.0f}× smaller "
                    f"than broken's) yet held-out rise {cc['heldout_rise_sigma']:.0f} σ",
                 favours=1, rules_out=[2]),
        Evidence(1, f"control-no-rare-piece (written/bitten → read/taken): {nr['grad_norm_ratio']:.1f}×, "
                    f"held-out rise {nr['heldout_rise_sigma']:.0f} σ", favours=1, rules_out=[2]),
        Evidence(6, f"control-mixed-shard (the same sentences shuffled in): {mx['grad_norm_ratio']:.1f}×, "
                    f"held-out rise {mx['heldout_rise_sigma']:.1f} σ", favours=1, rules_out=[2]),
    ],
    root_cause=(f"Feeding the late shard as 15 consecutive batches of the same 20 rare-participle sentences "
                f"from step 312 made the model fit that narrow pattern and forget ordinary sentences "
                f"(held-out loss {sym['heldout_loss_before']:.2f} → {sym['heldout_loss_peak']:.2f}, "
                f"{sym['heldout_rise_sigma']:.0f} σ), while the rare piece tten's never-trained embedding rows "
                f"only added a large, harmless one-step gradient spike ({sym['grad_norm_ratio']:.0f}×)."),
    remediation=("Shuffle the shard's sentences into the training stream from the start (data order 'mixed', "
                 "variant control-mixed-shard) instead of feeding them as 15 consecutive batches."),
    verification=Verification(seed="42", tolerance="0.05", step=str(len(log)),
                              expectations=[verification.as_expectation(e) for e in EXPECTATIONS]),
    lesson=("A gradient spike is not the damage: check panel 6 for runs of same-kind batches and the "
            "held-out loss on panel 1 before blaming a rare token."),
)
wb.fill(example)              # the forms now hold the worked example ...
pm = wb.to_postmortem()       # ... and this is what they give back
assert pm == example

# %% tags=["check"] exercise="postmortem-19-spike-001"
from utils.text import say

problems = postmortem.validate(pm, run_log=wb.run_log, reference=wb.reference)
assert problems == [], "postmortem-19-spike-001: " + postmortem.format_problems(problems)
assert postmortem.check_symptoms(pm.symptoms, wb.reference).ok, \
    say("postmortem-19-spike-001: §1 does not match its run log; press Compare in §1: ",
        "postmortem-19-spike-001: la §1 no coincide con su registro; pulsa Comparar con el registro en la §1: ") + \
    postmortem.check_symptoms(pm.symptoms, wb.reference).summary()

# %% [markdown]
# The validator on the whole post-mortem (it names every empty section and every problem), and
# §1 compared with the run log it is read from (`postmortem.check_symptoms` on `wb.reference`, the
# symptoms of the workbook's run log: the one saved with the post-mortem):
#
# 🇪🇸 **Español.** El validador sobre todo el post-mortem y la §1 comparada con el registro del que se
# leyó (el que se guarda con el post-mortem):

# %%
problems = postmortem.validate(pm, run_log=wb.run_log, reference=wb.reference)
print(postmortem.format_problems(problems) if problems else "no problems")
report = postmortem.check_symptoms(pm.symptoms, wb.reference)
print("\n".join(report.wrong) if report.wrong else "§1 matches its run log within the tolerances")

# %% [markdown]
# The markdown file it becomes (the course's fixed format, which `postmortem.parse_markdown` reads
# back exactly):
#
# 🇪🇸 **Español.** El archivo markdown en que se convierte (formato fijo, que se vuelve a leer exacto):

# %%
text = postmortem.render_markdown(pm)
print(text)
assert postmortem.parse_markdown(text) == pm

# %% [markdown]
# Save it with its lesson and its run log. Saving the same post-mortem again changes nothing; a
# changed one keeps the earlier version beside it (the run log too).
#
# 🇪🇸 **Español.** Guárdalo con su lección y el registro de su ejecución. Guardar el mismo post-mortem
# otra vez no cambia nada; uno distinto conserva la versión anterior a su lado.

# %%
if pm.is_empty():              # never saved by itself while empty: it would be kept as a version forever
    print(say("Nothing saved: your post-mortem is still empty. Fill the forms above, then press Save (or run "
              "this cell again).",
              "No se guardó nada: tu post-mortem sigue vacío. Rellena los formularios de arriba y pulsa Guardar "
              "(o vuelve a ejecutar esta celda)."))
else:
    try:
        wb.save_with_lesson()
    except ValueError as err:      # §7 is not one line yet: save the work in progress without a lesson
        wb.save()
        print(say(f"lesson not recorded: {err}", f"lección no anotada: {err}"))
    print("\n".join(wb.messages))

# %% [markdown]
# Reopening the notebook later: a fresh workbook loads the saved answers back into its forms, and
# the run log saved with them.
#
# 🇪🇸 **Español.** Al volver a abrir el cuaderno, un cuaderno de trabajo nuevo carga las respuestas
# guardadas en sus formularios, y el registro guardado con ellas.

# %%
reopened = PostMortemWorkbook(RUN_ID, run_log=log, notes=LearnerPostmortems())
saved = reopened.load()
print(reopened.messages[0])    # "no saved post-mortem ... yet" until one is saved
if saved is not None:
    assert saved == pm and reopened.to_postmortem() == pm
    assert postmortem.same_run_log(reopened.run_log, wb.run_log)
    print("§4 in the reopened form:", reopened.root_cause.text.value[:60] + " …")

# %% [markdown]
# ## A second worked example: a spike that does not recover (`nan`)
#
# `19-spike-001` recovers: the loss comes back down by itself and the post-mortem is about the
# damage it left. The `nan` run of 19.03 (§6 there) never comes back. Its attention softmax is
# written `exp(s) / sum(exp(s))` without subtracting the row maximum; exp overflows float32 above
# <span data-run="nan" data-key="exp_overflow_fp32" data-fmt=".2f">88.72</span>, and at the first
# bad step (<span data-run="nan" data-key="first_bad_step">92–144</span>) one update writes NaN into
# every parameter. Every later update reads those weights, so the loss is NaN to the last step.
#
# The template has three more rules for a run like this, and the validator applies them whenever
# the run did not recover: its run log ends with a non-finite loss or non-finite parameters (or,
# without a run log, §1 says so):
#
# - **§1 ends "did not recover"**: `recovery_loss` is `did not recover` or `NaN`, never a number (a
#   number there claims a recovery that never happened). The peak loss and the gradient norm may be
#   NaN too: they are what the run log holds.
# - **§2 includes the hypothesis that a destructive update wrote a NaN into a parameter.** A NaN that
#   never goes away starts with one update; panel 8 finds it. The validator accepts any hypothesis
#   that names *NaN* (or *non-finite*, *no finito*) together with *parameter* or *weight*
#   (*parámetro*, *peso*).
# - **§5 reverts to the last NaN-free checkpoint.** Weights that hold NaN cannot train on, so the
#   remedy starts by going back. The validator wants a *checkpoint* (*punto de control*) and a way
#   back: *revert*, *roll back*, *restore*, *reload*, *go back* (*volver*, *restaurar*, *revertir*,
#   *recargar*). Going back alone replays the same batches on the same weights and hits the same
#   NaN (19.03 showed it), so §5 also names the fix; it is still one remedy, in one sentence.
#
# Below, the `nan` run written up in full: §1 drafted from its run log and confirmed, the rivals
# ruled out by its panels and by the roll-back runs of 19.03, checked by the validator against the
# `nan` run log.
#
# 🇪🇸 **Español.** `19-spike-001` se recupera sola; la ejecución `nan` de 19.03 nunca vuelve: su softmax
# de atención no resta el máximo de la fila, exp desborda float32 y, en el primer paso malo
# (<span data-run="nan" data-key="first_bad_step">92–144</span>), una actualización escribe NaN en todos
# los parámetros. La plantilla tiene tres reglas más para una ejecución que no se recupera (su registro
# termina con pérdida o parámetros no finitos; sin registro, lo dice la §1), y el validador las aplica:
# la §1 termina en "did not recover" (`recovery_loss` es `did not recover` o `NaN`, nunca un número); la
# §2 incluye la hipótesis de que una actualización destructiva escribió un NaN en un parámetro (acepta
# *NaN*, *non-finite* o *no finito* junto con *parameter*, *weight*, *parámetro* o *peso*); la §5 vuelve
# al último checkpoint sin NaN (acepta *checkpoint* junto con *revert*, *roll back*, *restore*,
# *reload*, *go back*, *volver*, *restaurar*, *revertir* o *recargar*). Volver sin corregir repite el
# mismo NaN, así que la §5 nombra también la corrección. Abajo, el post-mortem completo de `nan`,
# validado con su registro.

# %%
import dataclasses

from utils.diagnosis import patterns
from utils.spikelab.metrics import ema, first_nonfinite_step, grad_ratio, unusual_tokens
from utils.spikelab.thresholds import SPIKE_RATIO

nan_log = run_variant("nan")                   # the run of 19.03 §6 (seed 42)
nan_sym = symptoms.compute(nan_log)
nan_bad = first_nonfinite_step(nan_log)        # panel 8: the update that wrote the first NaN
nan_fixed = patterns.train_with_rollback("nan", every=25, fix="manual")            # roll back + fix
nan_again = patterns.train_with_rollback("nan", every=25, fix=None, max_rollbacks=1)  # roll back only
nan_rb = next(e for e in nan_fixed.events if e["kind"] == "rollback")
nan_loss, nan_ema, nan_lr = nan_log.steps["loss"], ema(nan_log.steps["loss"]), nan_log.steps["lr"]
nan_rise = max(nan_loss[s] / nan_ema[s - 1] for s in range(nan_log.meta["config"]["warmup"], nan_bad))
nan_params = nan_log.steps["nonfinite_params"][nan_bad]
assert nan_params == nan_log.meta["n_params"] and nan_sym["recovery_loss"] == "did not recover"

nan_first = postmortem.draft_symptoms(nan_sym)  # §1 from the run log: peak and gradient norm are NaN ...
nan_first.confirmed = set(nan_first.drafted)    # ... confirmed on panels 1, 3 and 8
NAN_EXPECTATIONS = [f"loss_ratio < {SPIKE_RATIO:g}", f"grad_norm_ratio < {GRAD_SPIKE_RATIO}"]
nan_example = PostMortem(
    run_id="nan", date="2026-11-24", symptoms=nan_first,
    hypotheses=[
        Hypothesis(1, "The attention softmax, written exp(s) / sum(exp(s)) without subtracting the row maximum, "
                      "overflowed float32, and that step's destructive update wrote NaN into every parameter", [1, 8]),
        Hypothesis(2, "The learning rate jumped at the first bad step", [2]),
        Hypothesis(3, "The batch of the first bad step held rare pieces whose gradient spike diverged the run", [3, 7]),
        Hypothesis(4, "The run diverged slowly: the loss rose for many steps before the first NaN", [1]),
    ],
    evidence=[
        Evidence(2, f"the lr moves smoothly through the first bad step ({nan_lr[nan_bad - 1]:.6f} at {nan_bad - 1}, "
                    f"{nan_lr[nan_bad]:.6f} at {nan_bad})", favours=1, rules_out=[2]),
        Evidence(7, f"batch {nan_bad} holds no piece that an earlier batch did not hold "
                    f"(unusual tokens: {', '.join(unusual_tokens(nan_log, nan_bad)) or 'none'})", favours=1, rules_out=[3]),
        Evidence(3, f"the pre-clip gradient norm at step {nan_bad - 1} is "
                    f"{grad_ratio(nan_log.steps['grad_norm_preclip'], nan_bad - 1):.1f}× its median, then NaN at "
                    f"step {nan_bad}: no gradient spike builds up", favours=1, rules_out=[3]),
        Evidence(1, f"up to step {nan_bad - 1} the loss stays within {nan_rise:.2f}× its EMA, then it is NaN from "
                    f"step {nan_sym['spike_step']} on", favours=1, rules_out=[4]),
        Evidence(8, f"the non-finite count jumps from 0 to all {nan_params} parameters after the one update of step "
                    f"{nan_bad} and never returns to 0", favours=1, rules_out=[4]),
        Evidence(8, f"rolled back to step {nan_rb['to']} with the softmax that subtracts the row maximum, the same "
                    f"batches train to step {len(nan_fixed)} with no non-finite parameter; rolled back without that "
                    f"fix, the NaN comes back at step {nan_again.events[-1]['step']}", favours=1, rules_out=[3]),
    ],
    root_cause=(f"At step {nan_bad} the attention softmax, computed as exp(s) / sum(exp(s)) without subtracting the "
                f"row maximum, overflowed float32 (the largest attention logit was "
                f"{nan_log.steps['attn_max_score'][nan_bad - 1]:.1f} the step before), and that step's update wrote "
                f"NaN into all {nan_params} parameters, which every later update read."),
    remediation=(f"Roll back to the last NaN-free checkpoint (step {nan_rb['to']}) and compute the attention "
                 "softmax with the row maximum subtracted (attention 'manual') before training on."),
    verification=Verification(seed="42", tolerance="0.05", step=str(len(nan_log)),
                              expectations=[verification.as_expectation(e) for e in NAN_EXPECTATIONS]),
    lesson=("A NaN that never goes away comes from one update: find the first non-finite parameter on panel 8, "
            "roll back to the checkpoint before it, and fix the overflow before training on."),
)
nan_text = postmortem.render_markdown(nan_example)
print(nan_text)
assert postmortem.parse_markdown(nan_text) == nan_example
nan_problems = postmortem.validate(nan_example, run_log=nan_log)
print(postmortem.format_problems(nan_problems) if nan_problems else "no problems")
assert nan_problems == [] and postmortem.check_symptoms(nan_example.symptoms, nan_sym).ok

# %% [markdown]
# §6 cannot ask for a held-out rise or a recovery loss here: the `nan` run has neither, only NaN.
# What the fix must show is that the run now reaches step T with no spike at all: the loss never
# jumps to the spike detector's 1.5× its EMA and the gradient norm never reaches the course's 15× bar.
# A NaN anywhere fails both rows (the run gives NaN, not a number); the rolled-back, fixed run
# passes both, and so it does on every seed we measured.
#
# 🇪🇸 **Español.** La §6 no puede pedir una subida del conjunto de validación ni una pérdida de
# recuperación: `nan` no tiene más que NaN. El arreglo debe llegar al paso T sin ningún pico: la pérdida
# nunca llega a 1.5 veces su media y la norma del gradiente nunca a 15 veces. Un NaN en cualquier paso
# falla las dos filas; la ejecución que vuelve atrás con la corrección las cumple.

# %%
for name, nan_run in [("nan", nan_log), ("nan rolled back + fixed", nan_fixed)]:
    nan_rows = verification.check_verification(nan_example.verification, nan_run)
    print(verification.format_table(nan_rows, title=f"— {name}"), end="\n\n")
    assert verification.all_passed(nan_rows) == (nan_run is nan_fixed)

# %% [markdown]
# The course keeps this second worked example with its run log in the example learner's notes, beside
# the first (`learners/example-complete/phase-19/notes/postmortems/nan.md`), so the grader checks it
# like any post-mortem. Your own copy of this notebook does not save it: it is not yours.
#
# 🇪🇸 **Español.** El curso guarda este segundo ejemplo, con su registro, en las notas del estudiante de
# ejemplo, junto al primero (`.../postmortems/nan.md`); tu copia de este cuaderno no lo guarda.

# %% tags=["nbval-ignore-output"]
from utils.course import postmortem_notes
from utils.course.learner import display_path, running_a_master

if running_a_master():
    print(f"saved {display_path(postmortem_notes.save(nan_example, run_log=nan_log))}")
else:
    print("not saved here: the worked example lives in learners/example-complete/phase-19/notes/postmortems/nan.md")

# %% [markdown]
# The two post-mortems side by side: what changes when the spike does not recover.
#
# | | `19-spike-001` (recovers) | `nan` (does not recover) |
# |---|---|---|
# | §1 recovery loss | a number, back near the EMA | `did not recover` (peak and gradient norm NaN too) |
# | §2 | rivals for the damage; overflow is ruled out by panel 8 | the destructive update that wrote NaN into the parameters is a hypothesis |
# | §3 | control runs decide | panels 1, 2, 3, 7, 8 and the roll-back runs decide |
# | §5 | the smallest change to the data order | back to the last NaN-free checkpoint, with the fix |
# | §6 | held-out rise, post-event loss, spike and gradient bars | no spike and no gradient spike up to step T |
#
# Each rule is checked: below, the `nan` post-mortem with one rule broken at a time, and the same
# post-mortem written in Spanish, which passes.
#
# 🇪🇸 **Español.** Los dos post-mortems lado a lado: en `nan` la §1 dice `did not recover`, la §2 incluye
# la actualización destructiva que escribió NaN, la §5 vuelve al último checkpoint sin NaN con la
# corrección y la §6 pide que no haya pico hasta el paso T. Abajo, el post-mortem de `nan` con una regla
# rota cada vez, y el mismo escrito en español, que pasa.

# %%
broken_rules = {
    "§1 with a number": dataclasses.replace(nan_example, symptoms=dataclasses.replace(nan_first, recovery_loss="1.4")),
    "§2 without the NaN hypothesis": dataclasses.replace(nan_example, hypotheses=[
        dataclasses.replace(h, text="The attention softmax overflowed float32") if h.rank == 1 else h
        for h in nan_example.hypotheses]),
    "§5 without the checkpoint": dataclasses.replace(
        nan_example, remediation="Compute the attention softmax with the row maximum subtracted (attention 'manual')."),
}
for name, broken_pm in broken_rules.items():
    found = postmortem.validate(broken_pm, run_log=nan_log)
    print(f"{name}:\n  " + postmortem.format_problems(found).replace("\n", "\n  "))
    assert [p.section for p in found] == [int(name[1])]
spanish = dataclasses.replace(
    nan_example,
    hypotheses=[dataclasses.replace(h, text="La softmax de atención desbordó float32 y esa actualización destructiva "
                                            "escribió NaN en todos los parámetros") if h.rank == 1 else h
                for h in nan_example.hypotheses],
    remediation=f"Volver al último checkpoint sin NaN (paso {nan_rb['to']}) y restar el máximo de la fila en la softmax.")
assert postmortem.validate(spanish, run_log=nan_log) == []
print("in Spanish: no problems")

# %% [markdown]
# Next: `05-remediate-and-verify` applies the remediations, reruns with seed 42 and checks your
# §6 against every new run.
#
# 🇪🇸 **Español.** Siguiente: `05-remediate-and-verify` aplica los remedios, repite con la semilla 42 y
# comprueba tu §6 con cada ejecución nueva.
