# %% [markdown]
# # 19.2 · Reading the stability dashboard
#
# A loss spike is a symptom, not a diagnosis. To tell one cause from another you need to look
# at the same evidence every time, in the same place. This notebook introduces the course's
# **stability dashboard**: eight numbered panels, drawn by `utils.diagnosis.dashboard` from a run log
# (never from typed numbers). The post-mortem you write later cites these panels by number
# ("panel 3 shows…"), so learn them now.
#
# We read the canonical run `19-spike-001`: the mini-GPT of the §A13 grammar tutor, whose
# loss jumps at step <span data-run="broken" data-key="spike_step">312</span> when a late shard
# of sentences with the rare piece `tten` arrives as consecutive batches. The numbers in the text
# are the ranges we measured over several runs; the lines marked **Your run** are yours.
#
# 🇪🇸 **Español.** Un pico de pérdida es un síntoma, no un diagnóstico. Para distinguir una causa de otra
# hay que mirar siempre la misma evidencia en el mismo sitio. Este cuaderno presenta el **dashboard de
# estabilidad** del curso: ocho paneles numerados que `utils.diagnosis.dashboard` dibuja a partir del
# registro de una ejecución. El post-mortem citará estos paneles por su número. Leemos la ejecución
# canónica `19-spike-001`, cuya pérdida se dispara en el paso
# <span data-run="broken" data-key="spike_step">312</span>. Los números del texto son rangos medidos en
# varias ejecuciones; las líneas **Your run** son los de la tuya.

# %%
from utils.diagnosis import dashboard
from utils.spikelab import metrics, runlog, symptoms
from utils.diagnosis.dashboard import PANELS, Dashboard, draw, format_summary, largest_spike, step_summary
from utils.course.exercises import exercise_todo
from utils.text import say
from utils.spikelab.train import run_variant
from utils.course.yours import show

log = run_variant("broken")          # the canonical run, seed 42 (a few seconds)
spike = largest_spike(log)
sym = symptoms.compute(log)          # the post-mortem's §1 numbers, read off the log
print(f"run {log.run_id}: {len(log)} steps, largest spike at step {spike}")
show(say("your spike: step {spike_step}, loss **{loss_ratio:.1f}×** its EMA",
         "tu pico: paso {spike_step}, pérdida **{loss_ratio:.1f}×** su EMA"), sym)
assert log.meta["event_step"] == 312                           # the data order: the shard starts at 312
assert spike == sym["spike_step"] and 312 <= spike < log.meta["event_end"]

# %% [markdown]
# ## The eight panels
#
# | # | Panel | What it shows | What a spike looks like there |
# |---|---|---|---|
# | 1 | Loss and 50-step EMA | training loss per step (thin), its 50-step EMA (thick), the held-out loss (orange, same axes) | one step far above the EMA; if the held-out loss rises too, the model lost something it knew (damage) |
# | 2 | Learning rate | the schedule: warmup, then cosine decay | a jump or a step that coincides with the spike points at the schedule |
# | 3 | Gradient norm before clipping | the global gradient norm (log scale), the clip threshold (dotted), and the norm of the rare pieces' embedding rows (dots) | a tall peak; if the dots reach it, the gradient sits in a few embedding rows |
# | 4 | Activations | mean \|activation\| per layer; layer 0 (the embedding output, red) highlighted | a layer whose activations jump or drift up points at that layer |
# | 5 | Adam moments | norms of Adam's m and v, overall and for the rare rows (dashed) | rare-row moments that wake up from zero: Adam has never seen these rows before |
# | 6 | Batch composition | `tten` tokens per batch (bars), shard sentences per batch (line), repeated batches (▼) | a block of unusual batches right at the spike |
# | 7 | Per-token loss histogram | the losses of every token of the selected step (stacked: other tokens, rare pieces, `tten`), the step before as an outline | a heavy right tail, made of the rare pieces |
# | 8 | Parameter hash / non-finite count | non-finite parameters per step, steps whose parameter hash did not change (skipped updates), the first non-finite step | a count above zero: the run has diverged, not just spiked |
#
# Every time panel (all but 7) shares the step axis, a black cursor line at the selected step
# and dashed purple lines at the run's events (rollbacks, skipped steps; none in this run).
#
# 🇪🇸 **Español.** Paneles: 1, pérdida por paso y su media móvil exponencial de 50 pasos, con la pérdida
# de validación (naranja) en los mismos ejes; 2, learning rate; 3, norma del gradiente antes del
# clipping (escala logarítmica), con el umbral de clipping y la norma de las filas de las piezas raras;
# 4, activaciones medias por capa (la salida del embedding resaltada); 5, momentos de Adam (m y v),
# globales y de las filas raras; 6, composición del batch (tokens `tten`, frases del shard tardío,
# batches repetidos); 7, histograma de la pérdida por token en el paso elegido; 8, recuento de
# parámetros no finitos y pasos en que el hash de los parámetros no cambió. Un pico se ve como un salto
# sobre la media (1), un pico de gradiente (3), momentos que despiertan (5), batches inusuales (6) y una
# cola derecha pesada (7).

# %% tags=["nbval-check-output"]
for number, name in PANELS.items():
    print(number, name)

# %% [markdown]
# ## The whole run
#
# The full dashboard, cursor at the spike. On the scale of the whole run the spike is one
# needle in panels 1 and 3, and panel 6 shows that batches with shard sentences only start
# at the spike.
#
# 🇪🇸 **Español.** El panel completo, con el cursor en el pico. A la escala de toda la ejecución el pico
# es una aguja en los paneles 1 y 3, y el panel 6 muestra que los batches con frases del shard solo
# empiezan en el pico.

# %%
draw(log, step=spike)

# %% [markdown]
# ## Zoom: steps 280–420
#
# Read the panels in order:
# panel 1: the loss leaves its EMA for one step, and the held-out loss (orange) climbs for
# a while after the shard: that rise, not the needle, is the damage;
# panel 3: the pre-clip norm jumps far above the clip threshold and the rare rows' dots sit
# on top of it;
# panel 5: the rare rows' moments start from zero at the spike;
# panel 6: fifteen consecutive batches made of shard sentences;
# panel 7: the right tail of the histogram is made of `tten` and the other rare pieces;
# panel 8: no parameter ever became non-finite: a spike, not a divergence.
#
# 🇪🇸 **Español.** Leemos en orden: en el panel 1 la pérdida se aleja de su media un solo paso y la
# pérdida de validación sube durante un tiempo después del shard (ese es el daño); en el 3 la norma
# antes del clipping salta muy por encima del umbral y los puntos de las filas raras están encima; en el
# 5 los momentos de las filas raras arrancan de cero; en el 6, quince batches seguidos del shard; en el
# 7 la cola derecha son las piezas raras; en el 8 ningún parámetro es no finito: es un pico, no una
# divergencia.

# %%
draw(log, step=spike, window=(280, 420))

# %%
# what the text above reads off panels 6 and 8
shard = dashboard.shard_counts(log)
print("shard batches:", log.meta["event_step"], "…", log.meta["event_end"] - 1,
      f"({log.meta['event_end'] - log.meta['event_step']} batches, {len(log.meta['rare_example_ids'])} shard sentences)")
print("non-finite parameters at any step:", max(log.steps["nonfinite_params"]))
assert log.meta["event_end"] - log.meta["event_step"] == 15 and len(log.meta["rare_example_ids"]) == 20
assert all(shard[s] > 0 for s in range(312, 327)) and not any(shard[:312])
assert max(log.steps["nonfinite_params"]) == 0

# %% [markdown]
# ## Three steps in numbers
#
# `step_summary(log, step)` gives the numbers behind the cursor, rounded to four significant
# digits. We compare the step before the shard (311), the first shard batch (312) and the step
# where the held-out loss peaks (`sym["heldout_peak_step"]`: it depends on the run, held-out
# evaluations come every 8 steps).
#
# 🇪🇸 **Español.** `step_summary(log, paso)` da los números bajo el cursor, redondeados a cuatro cifras
# significativas. Comparamos el paso anterior al shard (311), el primer batch del shard (312) y el paso
# en que la pérdida de validación alcanza su máximo (depende de la ejecución).

# %%
held_peak = sym["heldout_peak_step"]
steps = (311, 312, held_peak)
summaries = {s: step_summary(log, s) for s in steps}
keys = ["loss", "ema", "loss_to_ema", "heldout_loss", "lr", "grad_norm_preclip", "grad_norm_postclip",
        "grad_norm_rare_rows", "rare_rows_share", "adam_m_rare", "adam_v_rare", "rare_count",
        "shard_sentences", "nonfinite_params"]
print(f"{'':20}" + "".join(f"{'step ' + str(s):>12}" for s in steps))
for k in keys:
    print(f"{k:20}" + "".join(f"{summaries[s][k]:>12}" for s in steps))
for s in steps:
    print(f"step {s} top-3 token losses:", ", ".join(f"{p} {l}" for p, l in summaries[s]["top_token_losses"]))
show(say("step 311 EMA **{pre_spike_ema:.2f}**; step 312 loss **{peak_loss:.2f}** (**{loss_ratio:.1f}×** the EMA), "
         "pre-clip gradient norm **{grad_norm_preclip:.0f}** (**{grad_norm_ratio:.0f}×** its median), "
         "`tten` **{rare_piece_nll:.1f}** nats; held-out loss **{heldout_loss_before:.2f}** → "
         "**{heldout_loss_peak:.2f}** at step {heldout_peak_step} (**{heldout_rise_sigma:.0f} σ**)",
         "paso 311: EMA **{pre_spike_ema:.2f}**; paso 312: pérdida **{peak_loss:.2f}** (**{loss_ratio:.1f}×** la "
         "EMA), norma del gradiente antes del clipping **{grad_norm_preclip:.0f}** (**{grad_norm_ratio:.0f}×** su "
         "mediana), `tten` **{rare_piece_nll:.1f}** nats; pérdida de validación **{heldout_loss_before:.2f}** → "
         "**{heldout_loss_peak:.2f}** en el paso {heldout_peak_step} (**{heldout_rise_sigma:.0f} σ**)"), sym)

# %%
s311, s312, s_peak = (summaries[s] for s in steps)
# 311: an ordinary step, loss close to its EMA, nothing in the rare rows
assert s311["loss_to_ema"] < 1.2 and s311["grad_norm_rare_rows"] == 0 and s311["rare_count"] == 0
# 312: the same ratio and norm the §1 symptoms report; almost all of the gradient in the rare rows
assert abs(s312["loss_to_ema"] - sym["loss_ratio"]) < 1e-2 and s312["loss_to_ema"] >= 2
if sym["spike_step"] == 312:                  # §1 reads the norm at the spike step
    assert abs(s312["grad_norm_preclip"] - sym["grad_norm_preclip"]) < 0.1
assert s312["rare_rows_share"] > 0.99 and s312["grad_norm_postclip"] == log.meta["clip"]
assert {p for p, _ in s312["top_token_losses"]} <= set(log.meta["rare_pieces"])
assert s311["adam_m_rare"] == 0 and s312["adam_m_rare"] > 0
# the held-out peak comes after the shard began, while the gradient is ordinary again
assert s_peak["heldout_step"] == held_peak and 312 < held_peak <= 312 + 80
assert abs(s_peak["heldout_loss"] - sym["heldout_loss_peak"]) < 1e-3
assert s_peak["grad_norm_preclip"] < 0.25 * s312["grad_norm_preclip"]
assert all(s["nonfinite_params"] == 0 for s in summaries.values())

# %% [markdown]
# What the three columns say:
#
# - **Step 311** is ordinary: the loss sits at its EMA (about
#   <span data-run="broken" data-key="pre_spike_ema" data-fmt=".2f">0.96–1.08</span>), no `tten` in
#   the batch, zero gradient in the rare rows, and Adam's rare-row moments are still zero.
# - **Step 312** is the spike: the loss is
#   <span data-run="broken" data-key="peak_loss" data-fmt=".2f">3.77–6.88</span>,
#   <span data-run="broken" data-key="loss_ratio" data-fmt=".1f">3.6–6.6</span>× the EMA; the pre-clip
#   gradient norm is <span data-run="broken" data-key="grad_norm_preclip" data-fmt=".0f" data-bound="min">&gt; 51</span>,
#   <span data-run="broken" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 31</span>× its median of the
#   previous 50 steps, and almost all of it (`rare_rows_share`) is in the input-embedding rows of
#   the rare pieces. The clip at
#   <span data-run="broken" data-key="clip" data-fmt=".1f">1.0</span> cuts the update down to the
#   ordinary size. The largest token losses are rare pieces (`tten` reaches
#   <span data-run="broken" data-key="rare_piece_nll" data-fmt=".1f">13.5–18.6</span> nats): the model
#   had almost never seen them.
# - **The held-out peak** (the third column) looks harmless in panel 3 (a gradient norm a small
#   fraction of the spike's), yet the held-out loss peaks there: from
#   <span data-run="broken" data-key="heldout_loss_before" data-fmt=".2f">1.09–1.21</span> before the
#   shard to <span data-run="broken" data-key="heldout_loss_peak" data-fmt=".2f">1.31–2.59</span>
#   at step <span data-run="broken" data-key="heldout_peak_step">328</span>,
#   <span data-run="broken" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 5.9</span> times its noise.
#   Fifteen batches of the same twenty sentences made the model forget part of the rest.
#
# These are the ranges over the runs we measured; your run's values are in the **Your run** line
# above the assertions.
#
# Two mechanisms, then: a huge but one-step gradient spike (panels 3, 5, 7), and lasting but
# recoverable damage from the run of same-kind batches (panels 1 and 6).
#
# 🇪🇸 **Español.** El paso 311 es normal: la pérdida está en su media, no hay `tten` en el batch y el
# gradiente de las filas raras es cero. El paso 312 es el pico: la pérdida es
# <span data-run="broken" data-key="loss_ratio" data-fmt=".1f">3.6–6.6</span> veces la media, la norma
# del gradiente antes del clipping es
# <span data-run="broken" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 31</span>
# veces su mediana y casi toda está en las filas del embedding de las piezas raras; el clipping la
# reduce al tamaño normal. El paso del máximo de validación (tercera columna) parece inofensivo en el
# panel 3, pero la pérdida de validación llega a su máximo,
# <span data-run="broken" data-key="heldout_loss_peak" data-fmt=".2f">1.31–2.59</span>: quince batches
# seguidos de las mismas frases hicieron olvidar parte del resto. Dos mecanismos: un pico de gradiente
# enorme pero de un solo paso, y un daño duradero pero recuperable.

# %% [markdown]
# ## Damage without a gradient spike: the control run
#
# The control `control-no-rare-piece` keeps the same late shard, but with "written"/"bitten"
# replaced by ordinary words, so the shard holds no rare piece. Panels 1, 3 and 6 tell the
# story: the batch composition (panel 6) is the same, the gradient norm (panel 3) stays
# ordinary (its largest pre-clip norm in the 15 steps from the event is
# <span data-run="control-no-rare-piece" data-key="grad_norm_ratio" data-fmt=".1f">1.7–13.1</span>×
# its median, against
# <span data-run="broken" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 31</span>× in the broken
# run), yet the held-out loss (panel 1) climbs to
# <span data-run="control-no-rare-piece" data-key="heldout_loss_peak" data-fmt=".2f">2.07–2.76</span>.
# Its training loss jumps twice, above 1.5× its EMA both times: when the shard arrives, and at
# step 327, when ordinary data returns and the model turns out to have forgotten it. Which jump is
# the larger one varies from run to run, and with it the spike step of §1 (in the runs we
# measured: <span data-run="control-no-rare-piece" data-key="spike_step">304–335</span>). A dashboard
# that looked only at panel 3 would miss this run's damage entirely.
#
# 🇪🇸 **Español.** La ejecución de control `control-no-rare-piece` conserva el mismo shard tardío pero
# sin piezas raras. El panel 6 es igual, el panel 3 no muestra ningún pico de gradiente
# (<span data-run="control-no-rare-piece" data-key="grad_norm_ratio" data-fmt=".1f">1.7–13.1</span>
# veces la mediana), y sin embargo la pérdida de validación sube a
# <span data-run="control-no-rare-piece" data-key="heldout_loss_peak" data-fmt=".2f">2.07–2.76</span>
# (panel 1). La pérdida de entrenamiento salta dos veces: cuando llega el shard y en el paso 327, cuando
# vuelven los datos normales; cuál de los dos saltos es mayor varía de una ejecución a otra (paso del
# pico en las ejecuciones medidas:
# <span data-run="control-no-rare-piece" data-key="spike_step">304–335</span>). Mirar solo el panel 3 no
# basta.

# %%
control = run_variant("control-no-rare-piece")
draw(control, panels=[1, 3, 6], step=312, window=(280, 420))

# %%
c_sym = symptoms.compute(control)
print("largest pre-clip grad norm / median, 15 steps from step 312:",
      f"broken {sym['grad_norm_ratio']:.4g}, control {c_sym['grad_norm_ratio']:.4g}")
print("held-out loss: before", f"{c_sym['heldout_loss_before']:.4g}", "peak", f"{c_sym['heldout_loss_peak']:.4g}",
      "at step", c_sym["heldout_peak_step"])
print("tten tokens in the control's shard batches:", sum(control.steps["rare_count"][312:327]))
show(say("`control-no-rare-piece`: gradient ratio **{grad_norm_ratio:.1f}×**, held-out peak "
         "**{heldout_loss_peak:.2f}**, §1 spike step {spike_step}",
         "`control-no-rare-piece`: ratio de grad-norm **{grad_norm_ratio:.1f}×**, máximo en validación "
         "**{heldout_loss_peak:.2f}**, paso del pico según la §1 {spike_step}"), c_sym)
assert c_sym["grad_norm_ratio"] < 10 < sym["grad_norm_ratio"]
assert c_sym["heldout_loss_peak"] > c_sym["heldout_loss_before"] + 10 * c_sym["heldout_loss_noise"]
assert sum(control.steps["rare_count"][312:327]) == 0
assert dashboard.shard_counts(control)[312:327] == dashboard.shard_counts(log)[312:327]
c_ema = metrics.ema(control.steps["loss"])
assert min(control.steps["loss"][s] / c_ema[s - 1] for s in (312, 327)) >= 1.5   # two loss jumps

# %% [markdown]
# ## The interactive dashboard
#
# Drag the **step** slider to move the cursor (panel 7 follows it), press **Jump to largest
# spike**, or choose a **window** of steps. Below the figure, the step's summary. Try steps
# 311, 312, 313 and your run's held-out peak, and step through the fifteen shard batches: how fast do the loss and
# the rare rows' gradient fall once the model has seen `tten` a few times?
#
# 🇪🇸 **Español.** Mueve el deslizador **step** para mover el cursor (el panel 7 lo sigue), pulsa **Jump
# to largest spike** o elige una **ventana** de pasos. Debajo de la figura aparece el resumen del paso.
# Prueba los pasos 311, 312, 313 y el del máximo de validación, y recorre los quince batches del shard:
# ¿qué tan rápido bajan la pérdida y el gradiente de las filas raras?

# %% tags=["nbval-ignore-output"]
# (an interactive widget: run the cell to use it)
board = Dashboard(log)
board.widget

# %% [markdown]
# ## Exercises
#
# **1. The rest of the model at the spike.** Panel 3 shows two norms at step 312: the whole
# pre-clip gradient (`log.steps["grad_norm_preclip"]`) and the part of it in the rare pieces'
# embedding rows (`log.steps["grad_norm_rare_rows"]`). How large was the gradient of **everything
# else**, every weight outside those rows, at step 312? Norms of separate parameter groups do not
# add up; think about what does. Store it in `rest_312`, computed from the log's two columns at
# step 312 (the check recomputes it from your run's log), and compare it with the median pre-clip
# norm of the 50 steps before.
#
# 🇪🇸 **Español.** **1.** El panel 3 muestra dos normas en el paso 312: la del gradiente entero antes del
# clipping y la de su parte en las filas de las piezas raras. ¿Qué tamaño tuvo el gradiente de **todo lo
# demás** (los pesos fuera de esas filas) en el paso 312? Las normas de grupos de parámetros distintos
# no se suman; piensa qué se suma. Guárdalo en `rest_312`, calculado con las dos columnas del registro,
# y compáralo con la mediana de la norma en los 50 pasos anteriores.

# %% tags=["stub"] exercise="rest-of-gradient-312"
rest_312 = exercise_todo("rest-of-gradient-312", say(
    "the gradient norm of every weight outside the rare rows at step 312",
    "la norma del gradiente de todos los pesos fuera de las filas raras en el paso 312"))
print(f"gradient norm outside the rare rows at step 312: {rest_312:.3f}")

# %% tags=["solution"] exercise="rest-of-gradient-312"
whole, rare_part = log.steps["grad_norm_preclip"][312], log.steps["grad_norm_rare_rows"][312]
rest_312 = (whole ** 2 - rare_part ** 2) ** 0.5        # squared norms of disjoint groups add up
print(f"gradient norm outside the rare rows at step 312: {rest_312:.3f}")

# %% tags=["check"] exercise="rest-of-gradient-312"
from utils.text import say

_g, _r = log.steps["grad_norm_preclip"][312], log.steps["grad_norm_rare_rows"][312]
_want = max(_g * _g - _r * _r, 0.0) ** 0.5
assert abs(rest_312 - _want) <= 1e-3 * _want + 1e-9, say(
    f"rest-of-gradient-312: expected about {_want:.4g} (the whole norm is {_g:.4g}, the rare rows' {_r:.4g}); "
    "norms of separate groups do not add up, their squares do",
    f"rest-of-gradient-312: se esperaban unos {_want:.4g} (la norma total es {_g:.4g}, la de las filas raras "
    f"{_r:.4g}); las normas de grupos separados no se suman, sus cuadrados sí")

# %%
import statistics

median_50 = statistics.median(log.steps["grad_norm_preclip"][262:312])
print(f"whole gradient at 312: {log.steps['grad_norm_preclip'][312]:.4g}; rare rows: "
      f"{log.steps['grad_norm_rare_rows'][312]:.4g}; median of the 50 steps before: {median_50:.4g}")

# %% [markdown]
# ### Question — what did the clip do to the rare rows?
#
# At step 312 the clip (panel 3's dotted line) scaled the whole gradient down by the factor
# `grad_norm_preclip / clip`, many times. Phase 18 followed what Adam then does with it. Pick an
# option and press **Check** (your answer is recorded in your notes for the grader; the last one counts).
#
# 🇪🇸 **Español.** En el paso 312 el clipping (la línea punteada del panel 3) redujo el gradiente entero
# muchas veces. La Fase 18 siguió lo que Adam hace después. Elige una opción y pulsa **Comprobar** (tu
# respuesta se guarda en tus notas; cuenta la última).

# %%
from utils.course.choice import Choice

clip_rows_q = Choice("19.02", "clip-and-rare-rows", say(
    "By how much did the clip shrink the move of the rare rows' weights at step 312?",
    "¿Cuánto redujo el clip el movimiento de los pesos de las filas raras en el paso 312?"), options={
    "a": (say("Hardly at all: their moments were zero, so Adam makes a full-size step (about 1.64 × lr) "
              "whatever the gradient's size.",
              "Casi nada: sus momentos eran cero, así que Adam da un paso completo (unos 1,64 × lr) sea cual sea "
              "el tamaño del gradiente."),
          say("Phase 18 · 1 measured it. Panel 5 shows the rare rows' moments waking up from zero at "
              "this step. What the clip changed is the rest of the model, which mostly kept following its momentum.",
              "La Fase 18 · 1 lo midió. El panel 5 muestra los momentos de las filas raras despertando "
              "de cero en este paso. Lo que cambió el clip es el resto del modelo, que siguió sobre todo su "
              "inercia.")),
    "b": (say("By the clip's factor: many times smaller than without the clip.",
              "Por el factor del clip: muchas veces menor que sin clip."),
          say("That would hold for plain SGD. Adam divides the step by √v̂, which the same gradient just filled: "
              "for a weight whose first gradient this is, the gradient's size cancels.",
              "Eso valdría para SGD. Adam divide el paso por √v̂, que el mismo gradiente acaba de llenar: para un "
              "peso que recibe su primer gradiente, el tamaño del gradiente se cancela.")),
    "c": (say("It made it larger: the clip moved the gradient towards the rare rows.",
              "Lo hizo mayor: el clip desplazó el gradiente hacia las filas raras."),
          say("A clip scales the whole gradient by one factor: it changes no direction and favours no rows.",
              "El clip escala todo el gradiente por un único factor: no cambia ninguna dirección ni favorece "
              "ninguna fila.")),
}, right="a")

# %% tags=["stub"] exercise="clip-and-rare-rows"
clip_rows_q   # choose an option and press Check / elige una opción y pulsa Comprobar

# %% tags=["solution"] exercise="clip-and-rare-rows"
clip_rows_q.choose("a")

# %% [markdown]
# **2. When does the shard arrive, and when does it come back?** Panel 6 counts, per batch, the
# examples that belong to the shard: the ids in `log.meta["rare_example_ids"]` that are also in
# `log.steps["batch_ids"][step]`. Find `first_shard_step`, the first step whose batch holds a
# shard sentence, and `first_return_step`, the first step after the fifteen shard batches
# (from `log.meta["event_end"]` on) whose batch holds one again.
#
# 🇪🇸 **Español.** **2.** El panel 6 cuenta, por batch, los ejemplos del shard (los ids de
# `log.meta["rare_example_ids"]` que están en `log.steps["batch_ids"][paso]`). Encuentra
# `first_shard_step`, el primer paso cuyo batch contiene una frase del shard, y `first_return_step`, el
# primer paso desde `log.meta["event_end"]` cuyo batch vuelve a contener una.

# %% tags=["stub"] exercise="first-shard-step"
first_shard_step, first_return_step = exercise_todo("first-shard-step", say(
    "find the first batch with a shard sentence, and the first one again after the shard",
    "encuentra el primer batch con una frase del shard, y el primero que vuelve a tener una después del shard"))
print("first shard batch:", first_shard_step, " first one after the shard:", first_return_step)

# %% tags=["solution"] exercise="first-shard-step"
shard_ids = set(log.meta["rare_example_ids"])
has_shard = [bool(shard_ids & set(ids)) for ids in log.steps["batch_ids"]]
first_shard_step = has_shard.index(True)
first_return_step = next(s for s in range(log.meta["event_end"], len(log)) if has_shard[s])
print("first shard batch:", first_shard_step, " first one after the shard:", first_return_step)

# %% tags=["check"] exercise="first-shard-step"
from utils.text import say

_counts = dashboard.shard_counts(log)
_ref = (next(s for s, c in enumerate(_counts) if c),
        next(s for s in range(log.meta["event_end"], len(log)) if _counts[s]))
assert (first_shard_step, first_return_step) == _ref, say(
    f"first-shard-step: expected {_ref}; a batch holds a shard sentence when one of its ids is in rare_example_ids",
    f"first-shard-step: se esperaba {_ref}; un batch tiene una frase del shard cuando uno de sus ids está en "
    f"rare_example_ids")

# %% [markdown]
# ## Your lesson from this notebook
#
# Write the one thing from this notebook that you would do differently next time, in one line,
# and press **Save lesson**. It is appended, dated and tagged with this notebook (`notebook 19.02`), to
# `learners/<you>/phase-19/notes/lessons.md`; the grader looks for one lesson per notebook.
#
# 🇪🇸 **Español.** Escribe en una línea lo que harías distinto la próxima vez tras este cuaderno y pulsa
# **Guardar lección**. Se añade, con la fecha y la etiqueta de este cuaderno (`notebook 19.02`), a
# `learners/<tú>/phase-19/notes/lessons.md`; el corrector busca una lección por cuaderno.

# %% tags=["nbval-ignore-output"]
from utils.course.lesson_box import lesson_box

lesson_box("19.02")
