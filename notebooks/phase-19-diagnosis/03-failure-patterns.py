# ---
# jupyter:
#   course:
#     nbval: lax
# ---

# %% [markdown]
# # 19.3 · Classic failure patterns, engineered for real
#
# The §A13 spike is one way a run goes wrong. This notebook produces five more, each with a
# **real run** of the same mini-GPT: nothing is injected, no loss or gradient is edited. A
# pattern is "engineered" only by choosing the data order, the model, the precision or a
# hyperparameter. For each one we look at its signature on the dashboard panels, walk the
# **stability check** (`utils.diagnosis.stability_check`, the decision tree of
# `theory/phase-19/stability-check.md`) and try the remedy, also as a real run.
#
# | pattern | run | what is chosen | panels |
# |---|---|---|---|
# | long-tail token | `broken`, `one-batch` | a never-trained rare piece arrives late | 3, 7 |
# | data order | `control-no-rare-piece` | 15 consecutive batches of one kind | 1, 6 |
# | fp16 overflow | `fp16-overflow` | float16, no loss scaling, explicit attention, LR 20× the course's | 8, 4, 1 |
# | LR discontinuity | `lr-discontinuity` | warmup ends at 0.1× the peak, then jumps to it | 2, 1 |
# | optimizer reset | `optimizer-reset` | step 300 reloads the model but not AdamW's state | 5, 1 |
# | non-recovery NaN | `nan` | softmax written as `exp(s)/sum(exp(s))` | 8, 4 |
# | none | `healthy` | the course's settings | all |
#
# 🇪🇸 **Español.** El pico §A13 es una forma de fallar. Este cuaderno produce cinco más, cada una con
# una **ejecución real** del mismo mini-GPT: no se inyecta nada ni se edita ninguna pérdida o
# gradiente; cada patrón sale de elegir el orden de los datos, el modelo, la precisión o un
# hiperparámetro. Para cada uno vemos su firma en los paneles, recorremos la **comprobación de
# estabilidad** (el árbol de decisión de `utils.diagnosis.stability_check`) y probamos el remedio, también
# con una ejecución real.

# %%
import copy
import math

from utils.diagnosis import patterns
from utils.diagnosis import stability_check as sc
from utils.spikelab.config import config_for
from utils.diagnosis.dashboard import DashboardFigure, draw
from utils.course.choice import Choice
from utils.course.exercises import exercise_todo
from utils.course.yours import show
from utils.text import say

run = patterns.cached_run          # run(name): a fresh run of that variant, trained once here
facts = patterns.pattern_facts     # facts(name): the numbers the text quotes, read off that same run


def walk(name: str) -> sc.Verdict:
    """Print the path the stability check takes on a run, and return its verdict."""
    verdict = sc.check(run(name))
    print(sc.render(verdict))
    return verdict


def logit_figure(curves: dict, limit: float, limit_label: str, start: int = 0,
                 log_scale: bool = True, title: str = "largest attention logit per step") -> DashboardFigure:
    """Attention logits per step from ``start`` on (the explicit-attention runs log the largest,
    ``attn_max_score``, and the smallest visible one, ``attn_min_score``). Infinite values
    (an overflow) are marked with an x on the limit line; nan values are left out."""
    fig = DashboardFigure(figsize=(8, 2.6), dpi=70, layout="constrained")
    ax = fig.add_subplot()
    for label, values in curves.items():
        line, = ax.plot(range(start, len(values)),
                        [v if math.isfinite(v) else float("nan") for v in values[start:]], lw=1, label=label)
        inf = [s for s in range(start, len(values)) if math.isinf(values[s])]
        ax.plot(inf, [limit] * len(inf), "x", ms=4, color=line.get_color())
    ax.axhline(limit, color="black", ls=":", lw=1, label=limit_label)
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("step", fontsize=7)
    ax.set_title(title, fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    return fig

# %% [markdown]
# ## 1 · Long-tail token: `broken` and `one-batch`
#
# The §A13 story. At step 312 a batch holds the rare piece `tten`, whose embedding row has never
# been trained: the pre-clip gradient norm jumps to
# <span data-run="pattern:broken" data-key="grad_ratio" data-fmt=".0f" data-bound="min">&gt; 31</span>× its median
# (panel 3), almost all of it in the rare pieces' rows. `broken` also feeds the shard as 15
# consecutive batches, which damages the held-out loss: **two patterns in one run**. The check
# ranks them by how many times each signal exceeds its own alarm line (30× for the gradient spike,
# 10σ for the held-out rise). In every run we measured both scores were above 1; in all but one the
# gradient spike scored higher, so `long-tail-token` comes first and `data-order` is the runner-up
# (in the other run the two swapped places; your run's scores are printed below the check).
# Stronger evidence is not more harm: the data-order damage is the one that costs the run its
# progress, whichever place it gets.
#
# 🇪🇸 **Español.** La historia §A13: en el paso 312 llega la pieza rara `tten`, cuya fila de embedding
# nunca se entrenó, y la norma del gradiente salta (panel 3). `broken` además trae el shard como 15
# batches seguidos, que dañan la pérdida de validación: **dos patrones en una ejecución**. La
# comprobación los ordena según cuántas veces cada señal supera su propia línea de alarma: las dos la
# superan en todas las ejecuciones medidas; el gradiente gana en todas menos una, donde el orden de los
# datos queda primero. Más evidencia no es más daño.

# %%
draw(run("broken"), panels=[1, 3, 6, 7], step=312, window=(280, 400))

# %%
v = walk("broken")
show(say("`broken`: gradient spike **{grad_ratio:.0f}×** its median; scores: long-tail-token "
         "**{score_long-tail-token:.1f}**, data-order **{score_data-order:.1f}**",
         "`broken`: pico de gradiente **{grad_ratio:.0f}×** su mediana; puntuaciones: long-tail-token "
         "**{score_long-tail-token:.1f}**, data-order **{score_data-order:.1f}**"), facts("broken"))
# held in every run we measured: both patterns named and both above their lines (the order can swap)
assert {v.pattern, v.runner_up} == {"long-tail-token", "data-order"}
assert min(v.scores["long-tail-token"], v.scores["data-order"]) >= 1

# %% [markdown]
# `one-batch` puts the same rare sentences into a single batch: the same gradient spike, no run
# of same-kind batches, no damage.
#
# 🇪🇸 **Español.** `one-batch` pone las mismas frases raras en un solo batch: el mismo pico de gradiente,
# sin racha de batches iguales y sin daño.

# %%
v = walk("one-batch")
assert v.pattern == "long-tail-token" and v.scores["data-order"] == 0

# %% [markdown]
# ## 2 · Data order: `control-no-rare-piece`
#
# The same 15 consecutive shard batches, with *written*/*bitten* replaced by common words: no
# rare piece, so no gradient spike (panel 3 stays below its line), yet the held-out loss rises
# <span data-run="pattern:control-no-rare-piece" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 12</span>σ
# of its noise (panel 1). The training loss jumps when the shard arrives (step 312) and again when
# ordinary data comes back (step 327), and falls in between: the shard is easy. Panel 6 shows the cause: a run of
# <span data-run="pattern:control-no-rare-piece" data-key="same_kind_run">15</span> batches made of one
# kind of sentence. Remedy (notebook 05): a data order that spreads them (`stratified-covering`).
#
# 🇪🇸 **Español.** Los mismos 15 batches seguidos, con palabras comunes en lugar de *written*/*bitten*:
# sin pieza rara no hay pico de gradiente (panel 3), pero la validación sube mucho (panel 1). El panel 6
# muestra la causa: una racha de batches de un solo tipo. Remedio (cuaderno 05): un orden de datos que
# los reparta.

# %%
draw(run("control-no-rare-piece"), panels=[1, 3, 6], step=327, window=(280, 400))

# %%
v = walk("control-no-rare-piece")
show(say("`control-no-rare-piece`: held-out rise **{heldout_rise_sigma:.0f}σ**, same-kind run of "
         "{same_kind_run} batches",
         "`control-no-rare-piece`: subida de la pérdida de validación **{heldout_rise_sigma:.0f}σ**, racha de "
         "{same_kind_run} batches del mismo tipo"), facts("control-no-rare-piece"))
assert v.pattern == "data-order" and v.scores["long-tail-token"] == 0

# %% [markdown]
# ## 3 · fp16 overflow: `fp16-overflow`
#
# Float16 holds values up to 65504. The run computes under `torch.autocast` with float16, without
# loss scaling, at LR <span data-run="fp16-overflow" data-key="peak_lr" data-fmt="g">0.06</span>
# (20× the course's), with the explicit attention of nanoGPT's fallback path, which materialises
# `q @ kᵀ` in float16 before dividing by √32. A high LR makes attention logits grow (a known
# instability of transformers), on both sides of zero; after the √32 the float16 limit is
# ±<span data-run="fp16-overflow" data-key="fp16_score_limit" data-fmt=".0f">11580</span>. The
# logits start near 0 and climb to that limit: before the crash their largest magnitude is above
# three quarters of it in every run we measured.
# At step <span data-run="fp16-overflow" data-key="first_nonfinite_step">71–175</span> a product
# overflows, the loss (or, in one run we measured, first the gradients of the backward pass) is
# nan, and the update writes nan into every weight: panel 8 counts
# <span data-run="fp16-overflow" data-key="nonfinite_params_last">456448</span> non-finite
# parameters from then on, to the end of the run.
#
# *Which* logit overflows first varies from run to run (the runs are chaotic); in the runs we
# measured, each of the four cases below (`overflow_side`: positive, negative, both, nan) occurred.
# On the positive side
# the largest logit becomes +inf, and the softmax's max-subtraction computes inf − inf = nan. On
# the negative side a whole row of visible logits goes to -inf (0/0 = nan; a single -inf logit is
# harmless, it gets weight 0, and can show up steps before the crash). Both sides can go at once
# ("both"), or the nan can come from the first layer into the second ("nan").
# What held in every run we measured: the logits reach the limit, the run overflows well before
# its end, and it never recovers. (An earlier version of this run used half this LR; it overflowed
# within its steps in some runs and not in others. At this LR the logits reach the limit well
# before the end in every run we tried.)
#
# 🇪🇸 **Español.** Float16 llega hasta 65504. La ejecución usa `torch.autocast` en float16, sin escalado
# de la pérdida, con un LR 20× el del curso y la atención explícita que calcula `q @ kᵀ` en float16. Con
# un LR alto los logits de atención crecen hasta el límite de float16; entonces un producto desborda, la
# pérdida (o, en alguna ejecución, antes el gradiente) es nan y la actualización escribe nan en todos
# los pesos (panel 8), para siempre. Qué lado desborda primero (el logit máximo a +inf, o una fila
# entera a -inf) varía de una ejecución a otra.

# %%
fp16 = run("fp16-overflow")
k = min(s for s in sc.first_nonfinite(fp16).values() if s is not None)   # the first non-finite step
limit = patterns.FP16_MAX / math.sqrt(32)
draw(fp16, panels=[1, 4, 8], step=k, window=(max(0, k - 70), len(fp16) - 1))

# %%
v = walk("fp16-overflow")
high, low = fp16.steps["attn_max_score"], fp16.steps["attn_min_score"]
peak = max(abs(x) for x in [*high[:k], *low[:k]] if math.isfinite(x))
print(f"first non-finite step {k} of {len(fp16)}; largest logit magnitude before it {peak:.5g} (limit {limit:.5g}); "
      f"at step {k}: largest logit {high[k]}, smallest {low[k]}")
show(say("`fp16-overflow`: largest logit magnitude before the crash **{attn_abs_score_peak_before:.0f}**, first "
         "non-finite step {first_nonfinite_step} (overflow side: {overflow_side}), {nonfinite_params_last} non-finite "
         "parameters at the end",
         "`fp16-overflow`: mayor magnitud de logit antes del fallo **{attn_abs_score_peak_before:.0f}**, primer paso "
         "no finito {first_nonfinite_step} (lado del overflow: `{overflow_side}`), {nonfinite_params_last} "
         "parámetros no finitos al final"), facts("fp16-overflow"))
assert (v.pattern, v.runner_up) == ("fp16-overflow", "nan-non-recovery") and 50 <= k <= len(fp16) - 50
# the claims of the text: the logits grew to the float16 limit, then overflowed (either side)
assert 0.5 * limit < peak <= limit and not (math.isfinite(high[k]) and math.isfinite(low[k]))
assert sc.first_nonfinite(fp16)["params"] == k and fp16.steps["nonfinite_params"][-1] == fp16.meta["n_params"]

# %% [markdown]
# **Remedies.** The same run in **bfloat16** (float32's exponent range, fewer mantissa bits)
# survives all <span data-run="fp16-overflow-bf16" data-key="steps">200</span> steps, although its
# largest logit grows far above the float16 limit (to more than twice it in every run we measured,
# by very different amounts from run to run). It is still a poor run (the LR is still 20× too high); bf16 removes
# the crash, not the growth.
#
# The same run in float16 **with a GradScaler** keeps every weight finite, but watch how. A
# GradScaler exists for the opposite problem, small gradients that *underflow* in float16: it
# multiplies the loss by a scale (65536 at first), and when the scaled gradients overflow it skips
# the step and halves the scale. The first skips
# (<span data-run="fp16-overflow-scaled" data-key="skips_before_warmup">1–4</span> before warmup ends,
# in the runs we measured) are that everyday behaviour, while the scale finds its level. Against a *forward* overflow it is
# no cure: the logits grow as before, and from the first nan loss (step
# <span data-run="fp16-overflow-scaled" data-key="first_nonfinite_loss_step">77–184</span>) the
# forward pass overflows again on most of the following batches (a skip leaves the weights as they
# were), so the scaler skips most of the steps from there to the end (at least seven in ten in
# every run we measured). Each skip halves the scale: it is below 1 from step
# <span data-run="fp16-overflow-scaled" data-key="scale_below_one_step">90–209</span> on and ends many
# orders of magnitude below 1 (your run's final scale is in the **Your run** line below),
# where it protects nothing: a batch that does not overflow gets its gradients scaled down until
# they can round to exactly 0 (<span data-run="fp16-overflow-scaled" data-key="zero_grad_steps">0–8</span>
# such step(s) in the runs we measured). Finite weights, but a run that has stopped learning; its last held-out
# evaluation overflows too
# (<span data-run="fp16-overflow-scaled" data-key="heldout_last" data-fmt=".2f">nan</span>).
# bf16 fixes the range; the growth itself is fixed by a lower LR (or a normalisation of q and k).
#
# *On a GPU.* Tensor cores multiply float16 and accumulate in float32, but store the result in
# float16, so the same product overflows the same way; CUDA's autocast runs softmax in float32
# (CPU autocast here runs it in float16), and fused attention kernels keep the logits in float32
# inside the kernel, so this failure needs the explicit (eager) attention path. A GradScaler's
# everyday behaviour there is the same as here: a few skipped steps at the start, and a rare skip
# later. Skips that keep coming, nearly all with a nan loss, are this pattern.
#
# 🇪🇸 **Español.** **Remedios.** En **bfloat16** (el rango de float32) la misma ejecución sobrevive. Con
# un **GradScaler** en float16 los pesos siguen finitos, pero el GradScaler existe para el problema
# contrario (gradientes pequeños que se pierden en float16): salta los pasos con gradientes no finitos y
# reduce la escala a la mitad. Contra un overflow en el forward no sirve: desde el primer nan la mayoría
# de los batches vuelven a desbordar, se salta la mayoría de las actualizaciones y la escala cae por
# debajo de 1: pesos finitos, pero la ejecución ya no aprende. En una GPU los tensor cores acumulan en
# float32 pero guardan en float16, así que el producto desborda igual; los kernels de atención
# fusionados mantienen los logits en float32.

# %%
curves = {f"{name}: largest": run(name).steps["attn_max_score"]
          for name in ["fp16-overflow", "fp16-overflow-scaled", "fp16-overflow-bf16"]}
curves["fp16-overflow: −smallest"] = [-x for x in fp16.steps["attn_min_score"]]
logit_figure(curves, limit, "65504 / √32 (x: overflowed)", title="attention logits per step (magnitude)")

# %%
bf16, scaled = run("fp16-overflow-bf16"), run("fp16-overflow-scaled")
skips = [e for e in scaled.events if e["kind"] == "skip"]
print(f"bf16: {len(bf16)} steps, non-finite losses: {sum(not math.isfinite(x) for x in bf16.steps['loss'])}, "
      f"largest logit {max(bf16.steps['attn_max_score']):.4g}")
print(f"fp16 + GradScaler: {len(skips)} skipped steps, non-finite weights ever: "
      f"{max(scaled.steps['nonfinite_params'])}, final scale {skips[-1]['scale']:.2g}")
for name in ["fp16-overflow-bf16", "fp16-overflow-scaled"]:
    print(name, "→", sc.check(run(name)).pattern)
show(say("`fp16-overflow-bf16`: {steps} steps, largest logit **{attn_max_score_peak:.0f}**",
         "`fp16-overflow-bf16`: {steps} pasos, mayor logit **{attn_max_score_peak:.0f}**"), facts("fp16-overflow-bf16"))
show(say("`fp16-overflow-scaled`: {skips_before_warmup} skips before warmup ends; first nan loss at step "
         "{first_nonfinite_loss_step}, then **{skips_from_first_overflow}** of {steps_from_first_overflow} steps "
         "skipped; scale below 1 from step {scale_below_one_step}, final **{final_loss_scale:.1e}**; "
         "{zero_grad_steps} zero-gradient step(s); last held-out {heldout_last:.2f}",
         "`fp16-overflow-scaled`: {skips_before_warmup} pasos saltados antes de acabar el warmup; primera pérdida nan "
         "en el paso {first_nonfinite_loss_step}, luego **{skips_from_first_overflow}** de "
         "{steps_from_first_overflow} pasos saltados; escala por debajo de 1 desde el paso {scale_below_one_step}, "
         "final **{final_loss_scale:.1e}**; {zero_grad_steps} paso(s) con gradiente cero; última pérdida de "
         "validación {heldout_last:.2f}"), facts("fp16-overflow-scaled"))
assert all(math.isfinite(x) for x in bf16.steps["loss"]) and max(bf16.steps["nonfinite_params"]) == 0
assert len(bf16) == len(fp16) and max(bf16.steps["attn_max_score"]) > limit
warmup = config_for("fp16-overflow-scaled").warmup
first = sc.first_nonfinite(scaled)["loss"]
late = [e["step"] for e in skips if e["step"] >= warmup]
print(f"first nan loss at step {first}; skips after warmup: {len(late)}, with a finite loss: "
      f"{sum(math.isfinite(scaled.steps['loss'][s]) for s in late)}; skipped from step {first} on: "
      f"{sum(s >= first for s in late)} of the {len(scaled) - first} steps")
assert max(scaled.steps["nonfinite_params"]) == 0
# the scaler does not cure the forward overflow: most late skips are a nan loss, not just a big
# gradient, most steps from the first overflow on are skipped, and the halved scale ends below 1
assert late and sum(not math.isfinite(scaled.steps["loss"][s]) for s in late) >= 0.8 * len(late)
assert sum(s >= first for s in late) >= 0.5 * (len(scaled) - first) and skips[-1]["scale"] < 1

# %% [markdown]
# ## 4 · LR discontinuity: `lr-discontinuity`
#
# A schedule bug: warmup climbs over
# <span data-run="lr-discontinuity" data-key="lr_jump_step">250</span> steps only to
# <span data-run="lr-discontinuity" data-key="lr_before_jump" data-fmt=".0e">6e-04</span>, then the
# cosine starts at the full peak: a
# <span data-run="lr-discontinuity" data-key="lr_jump_factor" data-fmt=".0f">10</span>× step on
# panel 2. The model, settled at a small LR, cannot take it: the held-out loss goes from
# <span data-run="lr-discontinuity" data-key="heldout_before" data-fmt=".2f">1.25–1.30</span> to
# <span data-run="lr-discontinuity" data-key="heldout_peak" data-fmt=".2f">2.06–2.67</span> within a few
# steps (<span data-run="lr-discontinuity" data-key="heldout_rise_sigma" data-fmt=".0f">7–25</span>σ).
# The gradient spike on panel 3 comes no earlier than the loss's rise, and almost none of it sits in
# rare rows. Remedy: a continuous schedule (`lr-continuous`: same peak, warmup ending at it), whose
# held-out loss never goes above
# <span data-run="lr-continuous" data-key="heldout_peak_after_warmup" data-fmt=".2f">1.34–1.63</span>
# after warmup.
#
# 🇪🇸 **Español.** Un error de schedule: el warmup solo llega a 0.1× el pico y el LR salta 10× de golpe
# (panel 2). El modelo, asentado con un LR pequeño, no lo soporta y la validación sube mucho; el pico de
# gradiente no llega antes de que la pérdida empiece a subir. Remedio: un schedule continuo.

# %%
draw(run("lr-discontinuity"), panels=[1, 2, 3], step=250, window=(200, 339))

# %%
v = walk("lr-discontinuity")
cont = sc.heldout_rise(run("lr-continuous"), 250)
print(f"lr-continuous: held-out {cont['before']:.3g} before step 250, peak {cont['peak']:.3g} after "
      f"({cont['sigma']:.2g}σ) → {sc.check(run('lr-continuous')).pattern}")
show(say("`lr-discontinuity`: LR ×**{lr_jump_factor:.0f}** at step {lr_jump_step} (from {lr_before_jump:.0e}); "
         "held-out **{heldout_before:.2f}** → **{heldout_peak:.2f}** (**{heldout_rise_sigma:.0f}σ**)",
         "`lr-discontinuity`: LR ×**{lr_jump_factor:.0f}** en el paso {lr_jump_step} (desde {lr_before_jump:.0e}); "
         "validación **{heldout_before:.2f}** → **{heldout_peak:.2f}** (**{heldout_rise_sigma:.0f}σ**)"),
     facts("lr-discontinuity"))
show(say("`lr-continuous`: held-out loss after warmup at most **{heldout_peak_after_warmup:.2f}**",
         "`lr-continuous`: pérdida de validación tras el warmup como mucho **{heldout_peak_after_warmup:.2f}**"),
     facts("lr-continuous"))
assert v.pattern == "lr-discontinuity" and sc.lr_jump(run("lr-continuous"))["step"] is None
assert cont["sigma"] < 10          # never damage (below 3σ in most runs we measured)

# %% [markdown]
# ## 5 · Optimizer reset: `optimizer-reset`
#
# At step 300 the run is "resumed from a checkpoint" that restored the weights but not AdamW's
# moments (`RunConfig.reset_optimizer_at`). Panel 5 shows it at once: the second-moment norm falls
# <span data-run="optimizer-reset" data-key="v_drop_factor" data-fmt=".0f">39–350</span>× in one step
# (with β2 = 0.999 it cannot fall by more than 0.1 % per step on its own), the first-moment norm
# <span data-run="optimizer-reset" data-key="m_drop_factor" data-fmt=".1f">1.5–2.7</span>× (to 0.1 × the
# clipped gradient). With m and v both fresh, Adam's bias correction makes the first updates
# ±LR for every weight, far larger than usual. On the same batches as the uninterrupted `healthy`
# run, the loss is higher in most of the
# <span data-run="optimizer-reset" data-key="loss_bump_steps">20</span> steps after the reload (more
# than half of them in every run we measured), by
# <span data-run="optimizer-reset" data-key="loss_bump_mean" data-fmt=".2f">0.03–0.16</span> on average.
# Remedy: save and load the optimizer state with the model; then the resumed run is identical to
# the uninterrupted one, loss for loss.
#
# 🇪🇸 **Español.** En el paso 300 la ejecución "se reanuda" desde un checkpoint que restaura los pesos
# pero no los momentos de AdamW. El panel 5 lo muestra: la norma del segundo momento cae de golpe y las
# primeras actualizaciones son grandes; la pérdida sube durante unos 20 pasos respecto a la ejecución
# sin interrupción. Remedio: guardar y cargar también el estado del optimizador.

# %%
draw(run("optimizer-reset"), panels=[1, 5], step=300, window=(270, 339))

# %%
v = walk("optimizer-reset")
resumed = patterns.resume(at=300, steps=320, with_optimizer=True)
same = resumed.steps["loss"] == run("healthy").steps["loss"][:320]
print("resumed with the optimizer state, identical to the uninterrupted run:", same)
assert v.pattern == "optimizer-reset" and same
drop = sc.moment_drop(run("optimizer-reset"))
bump = [a - b for a, b in zip(run("optimizer-reset").steps["loss"][drop["step"]: drop["step"] + 20],
                              run("healthy").steps["loss"][drop["step"]: drop["step"] + 20])]
show(say("`optimizer-reset`: v norm falls **{v:.0f}×**, m norm **{m:.1f}×**; loss higher than `healthy` in "
         "**{higher}** of {n} steps, by **{mean:.2f}** on average",
         "`optimizer-reset`: la norma de v cae **{v:.0f}×**, la de m **{m:.1f}×**; pérdida mayor que en `healthy` "
         "en **{higher}** de {n} pasos, **{mean:.2f}** más de media"),
     {"v": drop["v_factor"], "m": drop["m_factor"], "higher": sum(d > 0 for d in bump), "n": len(bump),
      "mean": sum(bump) / len(bump)})

# %% [markdown]
# ## 6 · Non-recovery NaN: `nan`
#
# A model choice: the attention softmax written as `exp(s) / sum(exp(s))`, without subtracting
# the row's maximum first (`F.softmax` does subtract it). exp overflows float32 above
# <span data-run="nan" data-key="exp_overflow_fp32" data-fmt=".2f">88.72</span>. At a peak LR of
# <span data-run="nan" data-key="peak_lr" data-fmt="g">0.006</span> the largest attention logit
# grows with training, and in every run we measured it stays below that limit until the first bad
# step (<span data-run="nan" data-key="first_bad_step">92–144</span>). There the softmax overflows:
# exp gives inf, inf / inf = nan, and the update writes nan into every weight. In most runs the
# largest logit logged at that step is above 88.72; in some it is already nan, and in a few the
# backward pass overflows first (the loss of that step is still finite, and nan from the next).
# Panel 8 finds that step without any
# guessing: it logs a hash of the parameters and their non-finite count after every update, so the
# first bad step is the first count above 0, and the hash of the step before it identifies the last
# clean state. The count never returns to 0: every later update reads nan weights.
#
# 🇪🇸 **Español.** Una elección de modelo: la softmax de atención escrita como `exp(s)/sum(exp(s))`, sin
# restar el máximo. exp desborda float32 por encima de 88.72; hasta el paso
# <span data-run="nan" data-key="first_bad_step">92–144</span> el mayor logit queda por debajo de ese
# límite; en ese paso la softmax desborda (en algunas ejecuciones, antes el backward), inf/inf = nan y
# la actualización escribe nan en todos los pesos. El panel 8 encuentra ese paso: el primer recuento de
# parámetros no finitos mayor que 0. Nunca vuelve a 0.

# %%
nan_bad = patterns.first_bad_step(run("nan"))
draw(run("nan"), panels=[1, 4, 8], step=nan_bad, window=(nan_bad - 40, len(run("nan")) - 1))

# %%
v = walk("nan")
attn = run("nan").steps["attn_max_score"]
print(f"first bad step {nan_bad}: largest logit {attn[nan_bad - 1]:.4g} → {attn[nan_bad]:.4g}")
show(say("`nan`: first bad step {step}, largest logit **{before:.1f}** → **{at:.1f}**",
         "`nan`: primer paso malo {step}, mayor logit **{before:.1f}** → **{at:.1f}**"),
     {"step": nan_bad, "before": attn[nan_bad - 1], "at": attn[nan_bad]})
bad = sc.first_nonfinite(run("nan"))
assert v.pattern == "nan-non-recovery" and bad["grads"] == nan_bad and bad["loss"] in (nan_bad, nan_bad + 1)
# the claim: float32's exp limit is not crossed before that step
assert max(attn[:nan_bad]) < math.log(3.4028234663852886e38)

# %% [markdown]
# **Exercise 1 · where to roll back to.** The remedy below keeps a checkpoint every `every` steps.
# The checkpoint of step `c` is taken *before* step `c` trains: it holds the weights as step `c − 1`
# left them (the checkpoint of step 0 holds the initial weights). Write
# `rollback_step(nonfinite_params, every)`: given panel 8's column (one count per step, taken right
# after that step's update), return the step of the **newest checkpoint whose weights are all
# finite**, or `None` when the run never needs one. Think about the edge cases before you code:
# a run that never goes bad, a first bad update at a checkpoint step, a run that is bad from step 0.
# The check tries your function on the `nan` run and on short made-up columns.
#
# 🇪🇸 **Español.** **Ejercicio 1 · a dónde volver.** El remedio de abajo guarda un checkpoint cada
# `every` pasos. El del paso `c` se toma *antes* de entrenar el paso `c`: guarda los pesos tal como los
# dejó el paso `c − 1` (el del paso 0, los pesos iniciales). Escribe `rollback_step(nonfinite_params,
# every)`: dada la columna del panel 8 (un recuento por paso, tomado justo después de su actualización),
# devuelve el paso del **checkpoint más reciente con todos los pesos finitos**, o `None` si la ejecución
# nunca lo necesita. Piensa antes en los casos límite: una ejecución que nunca se estropea, una primera
# actualización mala justo en un paso de checkpoint, una ejecución mala desde el paso 0. La comprobación
# prueba tu función con la ejecución `nan` y con columnas inventadas cortas.

# %% tags=["stub"] exercise="rollback-step"
nan_log = run("nan")


def rollback_step(nonfinite_params, every):
    return exercise_todo("rollback-step", say("return the step of the newest checkpoint whose weights are all finite",
                                              "devuelve el paso del checkpoint más reciente cuyos pesos son todos "
                                              "finitos"))


print("roll back to the checkpoint of step", rollback_step(nan_log.steps["nonfinite_params"], 25))

# %% tags=["solution"] exercise="rollback-step"
nan_log = run("nan")


def rollback_step(nonfinite_params, every):
    first_bad = next((s for s, n in enumerate(nonfinite_params) if n > 0), None)
    if first_bad is None:
        return None                            # never bad: nothing to roll back to
    return first_bad // every * every          # taken before the bad update: still clean


print("roll back to the checkpoint of step", rollback_step(nan_log.steps["nonfinite_params"], 25))

# %% tags=["check"] exercise="rollback-step"
from utils.text import say


def _newest_clean(counts, every):
    """The rule, checkpoint by checkpoint: the checkpoint of step c holds the weights after step c - 1."""
    if not any(n > 0 for n in counts):
        return None
    clean = [c for c in range(0, len(counts), every) if all(n == 0 for n in counts[:c])]
    return clean[-1]


for _counts, _every in [(nan_log.steps["nonfinite_params"], 25), (nan_log.steps["nonfinite_params"], 7),
                        ([0] * 12, 5), ([0, 0, 0, 0, 9, 9, 9], 4), ([0, 0, 0, 0, 0, 9, 9], 4),
                        ([0, 0, 0, 3], 4), ([5, 5, 5], 2), ([0, 0, 0, 0, 0, 0, 2], 1)]:
    _want, _got = _newest_clean(_counts, _every), rollback_step(list(_counts), _every)
    assert _got == _want, say(f"rollback-step: for counts {list(_counts)[:12]}{' ...' if len(_counts) > 12 else ''} "
                              f"and every={_every} the newest clean checkpoint is {_want}, you said {_got}",
                              f"rollback-step: con los recuentos {list(_counts)[:12]}"
                              f"{' ...' if len(_counts) > 12 else ''} y every={_every} el checkpoint limpio más "
                              f"reciente es {_want}, tú dijiste {_got}")
# %% [markdown]
# **Remedy: roll back to the last finite checkpoint, then fix the cause.**
# `patterns.train_with_rollback` keeps an in-memory checkpoint (weights and AdamW state) every 25
# steps. When panel 8's count goes above 0 (step
# <span data-run="nan" data-key="rollback_from">92–144</span>) it reloads the checkpoint of step
# <span data-run="nan" data-key="rollback_to">87–138</span>, whose parameter hash matches the log's
# clean state, and switches the softmax to the max-subtracting one (the same function, without the
# overflow). The run then finishes with finite weights; its loss over the last 10 steps is
# <span data-run="nan" data-key="rollback_loss_last10" data-fmt=".2f">1.19–1.44</span>. A reload *without*
# the fix replays the same batches on the same weights and hits the same nan again at step
# <span data-run="nan" data-key="reload_only_fails_again_at">92–144</span>: the overflow is deterministic.
# (Phase 20 does the same with checkpoints on disk: `utils.recovery.checkpoint`.)
#
# 🇪🇸 **Español.** **Remedio: volver al último checkpoint finito y corregir la causa.** Se guarda un
# checkpoint en memoria cada 25 pasos; en el paso
# <span data-run="nan" data-key="rollback_from">92–144</span> se recarga el del
# <span data-run="nan" data-key="rollback_to">87–138</span> y se cambia la softmax por la que resta el
# máximo. La ejecución termina con pesos finitos. Recargar *sin* corregir repite el mismo nan en el
# mismo paso: el overflow es determinista.

# %%
fixed = patterns.train_with_rollback("nan", every=25, fix="manual")
again = patterns.train_with_rollback("nan", every=25, fix=None, max_rollbacks=1)
print("with the fix:   ", [(e["kind"], e["step"], e.get("to")) for e in fixed.events],
      f"steps {len(fixed)}, non-finite weights at the end: {fixed.steps['nonfinite_params'][-1]}")
print("reload only:    ", [(e["kind"], e["step"], e.get("to")) for e in again.events])
rb = [e for e in fixed.events if e["kind"] == "rollback"]
show(say("`nan` with roll-back: from step {frm} back to step {to}, loss over the last 10 steps **{last10:.2f}**; "
         "reload without the fix: nan again at step {again}",
         "`nan` con rollback: del paso {frm} de vuelta al paso {to}, pérdida media de los últimos 10 pasos "
         "**{last10:.2f}**; al recargar sin el arreglo: nan otra vez en el paso {again}"),
     {"frm": rb[0]["step"], "to": rb[0]["to"], "last10": sum(fixed.steps["loss"][-10:]) / 10,
      "again": again.events[-1]["step"]})
assert max(fixed.steps["nonfinite_params"]) == 0 and len(fixed) == config_for("nan").steps
assert rb[0]["step"] == nan_bad and rb[0]["param_hash"] == run("nan").steps["param_hash"][rb[0]["to"] - 1]
assert [e["kind"] for e in again.events] == ["rollback", "stop"] and again.events[-1]["step"] == nan_bad
logit_figure({"nan (exp without max-subtraction)": run("nan").steps["attn_max_score"],
              f"rolled back at {nan_bad}, softmax fixed": fixed.steps["attn_max_score"]},
             math.log(3.4028234663852886e38), "ln(float32 max) = 88.72", start=max(0, nan_bad - 80), log_scale=False)

# %% [markdown]
# ## 7 · No pattern: `healthy`
#
# The check has to be able to say "nothing": on the healthy run every question is answered no.
#
# 🇪🇸 **Español.** La comprobación también debe poder decir "nada": en la ejecución sana todas las
# respuestas son no.

# %%
v = walk("healthy")
assert v.pattern == "none"

# %% [markdown]
# **Exercise 2 · fool the tree.** Read the path the check printed for `nan` above. Make `fooled`, a
# copy of the `nan` run log that the check classifies as **another pattern**, without changing a
# single number of its step columns (`fooled.steps` must equal the run's). Leave the run itself as
# it is: later cells read it (a copy that shares its dictionaries with the run changes the run too).
#
# 🇪🇸 **Español.** **Ejercicio 2 · engaña al árbol.** Lee el camino que la comprobación imprimió para
# `nan`. Crea `fooled`, una copia del registro de `nan` que la comprobación clasifique como **otro
# patrón**, sin cambiar ni un número de sus columnas por paso (`fooled.steps` debe ser igual al de la
# ejecución). No toques la ejecución misma: las celdas siguientes la leen (una copia que comparte sus
# diccionarios con la ejecución también la cambia).

# %% tags=["stub"] exercise="fool-the-tree"
fooled = exercise_todo("fool-the-tree", say("a copy of the nan log, same step columns, that the check names differently",
                                            "una copia del registro nan, con las mismas columnas por paso, a la que "
                                            "la comprobación da otro nombre"))
print(sc.check(fooled).pattern)

# %% tags=["solution"] exercise="fool-the-tree"
fooled = copy.deepcopy(run("nan"))
fooled.meta["dtype"] = "float16"          # the only question of the path the steps do not answer
print(sc.check(fooled).pattern)

# %% tags=["check"] exercise="fool-the-tree"
from utils.text import say


def _same_number(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


assert fooled is not run("nan"), say("fool-the-tree: make a copy; the run itself must stay as it is",
                                     "fool-the-tree: haz una copia; la ejecución misma debe quedar como está")
assert set(fooled.steps) == set(run("nan").steps) and all(
    len(fooled.steps[c]) == len(v) and all(map(_same_number, fooled.steps[c], v)) for c, v in run("nan").steps.items()), \
    say("fool-the-tree: the step columns must hold the same numbers as the run's",
        "fool-the-tree: las columnas por paso deben tener los mismos números que las de la ejecución")
assert sc.check(fooled).pattern != "nan-non-recovery", \
    say("fool-the-tree: the check still names nan-non-recovery: which question of its path do the steps not answer?",
        "fool-the-tree: la comprobación aún dice nan-non-recovery: ¿qué pregunta de su camino no contestan los "
        "pasos?")
assert run("nan").meta.get("dtype") == "float32" and sc.check(run("nan")).pattern == "nan-non-recovery", \
    say("fool-the-tree: the run itself changed (your copy shares its metadata with it): copy it with copy.deepcopy",
        "fool-the-tree: la ejecución misma cambió (tu copia comparte sus metadatos con ella): cópiala con "
        "copy.deepcopy")

# %%
print(sc.render(sc.check(fooled)))

# %% [markdown]
# **Question.** Your copy holds the `nan` run's own steps: float32's exp overflowing in a softmax
# that does not subtract the row maximum. What does the verdict on it tell you?
#
# 🇪🇸 **Español.** **Pregunta.** Tu copia tiene los pasos de la propia ejecución `nan`: el exp de float32
# que desborda en una softmax que no resta el máximo de la fila. ¿Qué te dice el veredicto sobre ella?

# %%
verdict_q = Choice("19.03", "verdict-is-not-proof", say(
    "The check names your copy fp16-overflow, a float32 run whose label says float16. What does that tell you?",
    "La comprobación llama fp16-overflow a tu copia, una ejecución en float32 cuya etiqueta dice float16. "
    "¿Qué te dice eso?"), options={
    "a": (say("The nan run really overflowed in float16", "La ejecución nan desbordó de verdad en float16"),
          say("No: every number of its steps is the float32 run's; only the metadata changed. A relabelled run "
              "computes nothing new.",
              "No: cada número de sus pasos es el de la ejecución en float32; solo cambió la metadata. Cambiar la "
              "etiqueta no calcula nada nuevo.")),
    "b": (say("The verdict is the most likely pattern given what the run log says, not a proof: read the path "
              "and check the facts it rests on (here the dtype) against the run",
              "El veredicto es el patrón más probable según lo que dice el registro, no una prueba: lee el camino "
              "y comprueba con la ejecución los hechos en que se apoya (aquí el dtype)"),
          say("Both patterns leave the same panels (a non-finite count that never returns to 0); one question "
              "of the path, the dtype, separates them, and it reads the log's metadata. The path names that "
              "question, so you can check it.",
              "Los dos patrones dejan los mismos paneles (un recuento no finito que nunca vuelve a 0); una "
              "pregunta del camino, el dtype, los separa, y lee la metadata del registro. El camino nombra esa "
              "pregunta, así que puedes comprobarla.")),
    "c": (say("The stability check is broken: do not use it", "La comprobación de estabilidad está rota: no la uses"),
          say("No: on the true log it names nan-non-recovery. It answered what its input said: a wrong fact in, "
              "a wrong name out.",
              "No: con el registro verdadero nombra nan-non-recovery. Respondió a lo que decía su entrada: un "
              "dato falso da un nombre falso.")),
}, right="b")

# %% tags=["stub"] exercise="verdict-is-not-proof"
verdict_q   # choose an option and press Check / elige una opción y pulsa Comprobar

# %% tags=["solution"] exercise="verdict-is-not-proof"
verdict_q.choose("b")

# %% [markdown]
# ## Every engineered run, classified
#
# 🇪🇸 **Español.** Todas las ejecuciones, clasificadas.

# %%
for name in ["broken", "one-batch", "control-no-rare-piece", "control-mixed-shard", "fp16-overflow",
             "fp16-overflow-scaled", "fp16-overflow-bf16", "lr-discontinuity", "lr-continuous",
             "optimizer-reset", "nan", "healthy"]:
    verdict = sc.check(run(name))
    print(f"{name:22s} → {verdict.pattern:17s} runner-up {verdict.runner_up}")

# %% [markdown]
# ## Your lesson from this notebook
#
# Write the one thing from this notebook that you would do differently next time, in one line,
# and press **Save lesson**. It is appended, dated and tagged with this notebook (`notebook 19.03`), to
# `learners/<you>/phase-19/notes/lessons.md`; the grader looks for one lesson per notebook.
#
# 🇪🇸 **Español.** Escribe en una línea lo que harías distinto la próxima vez tras este cuaderno y pulsa
# **Guardar lección**. Se añade, con la fecha y la etiqueta de este cuaderno (`notebook 19.03`), a
# `learners/<tú>/phase-19/notes/lessons.md`; el corrector busca una lección por cuaderno.

# %% tags=["nbval-ignore-output"]
from utils.course.lesson_box import lesson_box

lesson_box("19.03")
