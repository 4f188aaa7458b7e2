# nbval: lax
# %% [markdown]
# # 19.3 · Classic failure patterns, engineered for real
#
# The §A13 spike is one way a run goes wrong. This notebook produces five more, each with a
# **real run** of the same mini-GPT: nothing is injected, no loss or gradient is edited. A
# pattern is "engineered" only by choosing the data order, the model, the precision or a
# hyperparameter. For each one we look at its signature on the dashboard panels, walk the
# **stability check** (`utils.stability_check`, the decision tree of
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
# **Español.** El pico §A13 es una forma de fallar. Este cuaderno produce cinco más, cada una con
# una **ejecución real** del mismo mini-GPT: no se inyecta nada ni se edita ninguna pérdida o
# gradiente; cada patrón sale de elegir el orden de los datos, el modelo, la precisión o un
# hiperparámetro. Para cada uno vemos su firma en los paneles, recorremos la **comprobación de
# estabilidad** (el árbol de decisión de `utils.stability_check`) y probamos el remedio, también
# con una ejecución real.

# %%
import copy
import math

from utils import patterns
from utils import stability_check as sc
from utils.config import config_for
from utils.dashboard import DashboardFigure, draw
from utils.exercises import exercise_todo

run = patterns.cached_run          # run(name): a fresh run of that variant, trained once here


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
# <span data-run="pattern:broken" data-key="grad_ratio" data-fmt=".0f">149</span>× its median
# (panel 3), almost all of it in the rare pieces' rows. `broken` also feeds the shard as 15
# consecutive batches, which damages the held-out loss: **two patterns in one run**. The check
# ranks them by how many times each signal exceeds its own alarm line: the gradient spike is
# <span data-run="pattern:broken" data-key="score_long-tail-token" data-fmt=".1f">5.0</span>× its
# line (30×), the held-out rise
# <span data-run="pattern:broken" data-key="score_data-order" data-fmt=".1f">2.1</span>× its line
# (10σ), so `long-tail-token` comes first and `data-order` is the runner-up. Stronger evidence is
# not more harm: the runner-up is the one that costs the run its progress.
#
# **Español.** La historia §A13: en el paso 312 llega la pieza rara `tten`, cuya fila de embedding
# nunca se entrenó, y la norma del gradiente salta (panel 3). `broken` además trae el fragmento
# como 15 lotes seguidos, que dañan la pérdida de validación: **dos patrones en una ejecución**.
# La comprobación los ordena según cuántas veces cada señal supera su propia línea de alarma: el
# gradiente gana, y el orden de los datos queda segundo. Más evidencia no es más daño.

# %%
draw(run("broken"), panels=[1, 3, 6, 7], step=312, window=(280, 400))

# %%
v = walk("broken")
assert (v.pattern, v.runner_up) == ("long-tail-token", "data-order")
assert v.scores["long-tail-token"] > v.scores["data-order"] >= 1

# %% [markdown]
# `one-batch` puts the same rare sentences into a single batch: the same gradient spike, no run
# of same-kind batches, no damage.
#
# **Español.** `one-batch` pone las mismas frases raras en un solo lote: el mismo pico de
# gradiente, sin racha de lotes iguales y sin daño.

# %%
v = walk("one-batch")
assert v.pattern == "long-tail-token" and v.scores["data-order"] == 0

# %% [markdown]
# ## 2 · Data order: `control-no-rare-piece`
#
# The same 15 consecutive shard batches, with *written*/*bitten* replaced by common words: no
# rare piece, so no gradient spike (panel 3 stays below its line), yet the held-out loss rises
# <span data-run="pattern:control-no-rare-piece" data-key="heldout_rise_sigma" data-fmt=".0f">46</span>σ
# of its noise (panel 1). The training loss jumps when the shard arrives (step 312) and again when
# ordinary data comes back (step 327), and falls in between: the shard is easy. Panel 6 shows the cause: a run of
# <span data-run="pattern:control-no-rare-piece" data-key="same_kind_run">15</span> batches made of one
# kind of sentence. Remedy (notebook 05): a data order that spreads them (`stratified-covering`).
#
# **Español.** Los mismos 15 lotes seguidos, con palabras comunes en lugar de *written*/*bitten*:
# sin pieza rara no hay pico de gradiente (panel 3), pero la validación sube mucho (panel 1). El
# panel 6 muestra la causa: una racha de lotes de un solo tipo. Remedio (cuaderno 05): un orden de
# datos que los reparta.

# %%
draw(run("control-no-rare-piece"), panels=[1, 3, 6], step=327, window=(280, 400))

# %%
v = walk("control-no-rare-piece")
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
# logits start near 0 and climb to that limit: their largest magnitude before the crash is
# <span data-run="fp16-overflow" data-key="attn_abs_score_peak_before" data-fmt=".0f">11136</span>.
# At step <span data-run="fp16-overflow" data-key="first_nonfinite_step">95</span> a product
# overflows, the loss is nan, and the update writes nan into every weight: panel 8 counts
# <span data-run="fp16-overflow" data-key="nonfinite_params_last">456448</span> non-finite
# parameters from then on, to the end of the run.
#
# *Which* logit overflows first depends on the floating-point path (the runs are chaotic). On the
# reference run it is the <span data-run="fp16-overflow" data-key="overflow_side">positive</span>
# side: the largest logit becomes +inf, and the softmax's max-subtraction computes inf − inf =
# nan. On other paths we measured, a whole row of visible logits went to -inf (0/0 = nan; a single
# -inf logit is harmless, it gets weight 0, and can show up steps before the crash), or both sides
# went at once, or the nan came from the first layer into the second. What holds on every path we
# measured: the logits reach the limit, the run overflows well before its end, and it never
# recovers. (An earlier version of this run used half this LR; it overflowed within its steps on
# one machine and not on another. At this LR the logits reach the limit within about 100 steps on
# every path we tried.)
#
# **Español.** Float16 llega hasta 65504. La ejecución usa `torch.autocast` en float16, sin
# escalado de la pérdida, con una tasa 20× la del curso y la atención explícita que calcula
# `q @ kᵀ` en float16. Con tasa alta los logits de atención crecen hasta el límite de float16;
# entonces un producto desborda, la pérdida es nan y la actualización escribe nan en todos los
# pesos (panel 8), para siempre. Qué lado desborda primero (el logit máximo a +inf, o una fila
# entera a -inf) depende de la ruta de coma flotante.

# %%
fp16 = run("fp16-overflow")
k = sc.first_nonfinite(fp16)["loss"]          # the first nan loss: the forward pass that overflowed
limit = patterns.FP16_MAX / math.sqrt(32)
draw(fp16, panels=[1, 4, 8], step=k, window=(max(0, k - 70), len(fp16) - 1))

# %%
v = walk("fp16-overflow")
high, low = fp16.steps["attn_max_score"], fp16.steps["attn_min_score"]
peak = max(abs(x) for x in [*high[:k], *low[:k]] if math.isfinite(x))
print(f"first nan loss at step {k} of {len(fp16)}; largest logit magnitude before it {peak:.5g} (limit {limit:.5g}); "
      f"at step {k}: largest logit {high[k]}, smallest {low[k]}")
assert (v.pattern, v.runner_up) == ("fp16-overflow", "nan-non-recovery") and 50 <= k <= len(fp16) - 50
# the claims of the text: the logits grew to the float16 limit, then overflowed (either side)
assert 0.5 * limit < peak <= limit and not (math.isfinite(high[k]) and math.isfinite(low[k]))
assert sc.first_nonfinite(fp16)["params"] == k and fp16.steps["nonfinite_params"][-1] == fp16.meta["n_params"]

# %% [markdown]
# **Remedies.** The same run in **bfloat16** (float32's exponent range, fewer mantissa bits)
# survives all <span data-run="fp16-overflow-bf16" data-key="steps">200</span> steps, although its
# largest logit reaches
# <span data-run="fp16-overflow-bf16" data-key="attn_max_score_peak" data-fmt=".0f">36864</span>,
# far above the float16 limit. It is still a poor run (the LR is still 20× too high); bf16 removes
# the crash, not the growth.
#
# The same run in float16 **with a GradScaler** keeps every weight finite, but watch how. A
# GradScaler exists for the opposite problem, small gradients that *underflow* in float16: it
# multiplies the loss by a scale (65536 at first), and when the scaled gradients overflow it skips
# the step and halves the scale. The first
# <span data-run="fp16-overflow-scaled" data-key="skips_before_warmup">3</span> skips of this run
# are that everyday behaviour, while the scale finds its level. Against a *forward* overflow it is
# no cure: the logits grow as before, and from the first nan loss (step
# <span data-run="fp16-overflow-scaled" data-key="first_nonfinite_loss_step">130</span>) the
# forward pass overflows again on most of the following batches (a skip leaves the weights as they
# were), so the scaler skips <span data-run="fp16-overflow-scaled" data-key="skips_from_first_overflow">69</span>
# of the <span data-run="fp16-overflow-scaled" data-key="steps_from_first_overflow">70</span> steps
# from there to the end. Each skip halves the scale: it is below 1 from step
# <span data-run="fp16-overflow-scaled" data-key="scale_below_one_step">143</span> on and ends at
# <span data-run="fp16-overflow-scaled" data-key="final_loss_scale" data-fmt=".1e">1.4e-17</span>,
# where it protects nothing: a batch that does not overflow gets its gradients scaled down until
# they can round to exactly 0 (<span data-run="fp16-overflow-scaled" data-key="zero_grad_steps">1</span>
# such step on this run). Finite weights, but a run that has stopped learning; its last held-out
# evaluation overflows too
# (<span data-run="fp16-overflow-scaled" data-key="heldout_last" data-fmt=".2f">nan</span>).
# bf16 fixes the range; the growth itself is fixed by a lower LR (or a normalisation of q and k).
#
# *On a GPU.* Tensor cores multiply float16 and accumulate in float32, but store the result in
# float16, so the same product overflows the same way; CUDA's autocast runs softmax in float32
# (CPU autocast here runs it in float16), and fused attention kernels keep the logits in float32
# inside the kernel, so this failure needs the explicit (eager) attention path. A GradScaler's
# everyday behaviour there is the same as here: a few skipped steps at the start, and a rare skip
# later. Skips that keep coming, each with a nan loss, are this pattern.
#
# **Español.** **Remedios.** En **bfloat16** (el rango de float32) la misma ejecución sobrevive.
# Con un **GradScaler** en float16 los pesos siguen finitos, pero el escalador existe para el
# problema contrario (gradientes pequeños que se pierden en float16): salta los pasos con
# gradientes no finitos y reduce la escala a la mitad. Contra un desbordamiento en la pasada hacia
# delante no sirve: desde el primer nan la mayoría de los lotes vuelven a desbordar, se salta la
# mayoría de las actualizaciones y la escala cae por debajo de 1: pesos finitos, pero la ejecución ya no
# aprende. En una GPU los núcleos tensoriales acumulan en float32 pero guardan en float16, así que
# el producto desborda igual; los núcleos de atención fusionados mantienen los logits en float32.

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
assert all(math.isfinite(x) for x in bf16.steps["loss"]) and max(bf16.steps["nonfinite_params"]) == 0
assert len(bf16) == len(fp16) and max(bf16.steps["attn_max_score"]) > limit
warmup = config_for("fp16-overflow-scaled").warmup
first = sc.first_nonfinite(scaled)["loss"]
late = [e["step"] for e in skips if e["step"] >= warmup]
print(f"first nan loss at step {first}; skips after warmup: {len(late)} of the {len(scaled) - first} steps from "
      f"step {first} on, their losses finite: {sum(math.isfinite(scaled.steps['loss'][s]) for s in late)}")
assert max(scaled.steps["nonfinite_params"]) == 0
# the scaler does not cure the forward overflow: every late skip is a nan loss, not just a big gradient,
# most steps from the first overflow on are skipped, and the halved scale ends below 1
assert late and all(not math.isfinite(scaled.steps["loss"][s]) for s in late)
assert len(late) >= 0.5 * (len(scaled) - first) and skips[-1]["scale"] < 1

# %% [markdown]
# ## 4 · LR discontinuity: `lr-discontinuity`
#
# A schedule bug: warmup climbs over
# <span data-run="lr-discontinuity" data-key="lr_jump_step">250</span> steps only to
# <span data-run="lr-discontinuity" data-key="lr_before_jump" data-fmt=".0e">6e-04</span>, then the
# cosine starts at the full peak: a
# <span data-run="lr-discontinuity" data-key="lr_jump_factor" data-fmt=".0f">10</span>× step on
# panel 2. The model, settled at a small LR, cannot take it: the held-out loss goes from
# <span data-run="lr-discontinuity" data-key="heldout_before" data-fmt=".2f">1.27</span> to
# <span data-run="lr-discontinuity" data-key="heldout_peak" data-fmt=".2f">2.20</span> within a few
# steps (<span data-run="lr-discontinuity" data-key="heldout_rise_sigma" data-fmt=".0f">15</span>σ).
# The gradient spike on panel 3 comes *after* the loss has started to rise, and none of it sits in
# rare rows. Remedy: a continuous schedule (`lr-continuous`: same peak, warmup ending at it), whose
# held-out loss never goes above
# <span data-run="lr-continuous" data-key="heldout_peak_after_warmup" data-fmt=".2f">1.39</span>
# after warmup.
#
# **Español.** Un error de calendario: el calentamiento solo llega a 0,1× el pico y la tasa salta
# 10× de golpe (panel 2). El modelo, asentado con una tasa pequeña, no lo soporta y la validación
# sube mucho; el pico de gradiente llega *después* de que la pérdida empiece a subir. Remedio: un
# calendario continuo.

# %%
draw(run("lr-discontinuity"), panels=[1, 2, 3], step=250, window=(200, 339))

# %%
v = walk("lr-discontinuity")
cont = sc.heldout_rise(run("lr-continuous"), 250)
print(f"lr-continuous: held-out {cont['before']:.3g} before step 250, peak {cont['peak']:.3g} after "
      f"({cont['sigma']:.2g}σ) → {sc.check(run('lr-continuous')).pattern}")
assert v.pattern == "lr-discontinuity" and sc.lr_jump(run("lr-continuous"))["step"] is None
assert cont["sigma"] < 3

# %% [markdown]
# ## 5 · Optimizer reset: `optimizer-reset`
#
# At step 300 the run is "resumed from a checkpoint" that restored the weights but not AdamW's
# moments (`RunConfig.reset_optimizer_at`). Panel 5 shows it at once: the second-moment norm falls
# <span data-run="optimizer-reset" data-key="v_drop_factor" data-fmt=".0f">62</span>× in one step
# (with β2 = 0.999 it cannot fall by more than 0.1 % per step on its own), the first-moment norm
# <span data-run="optimizer-reset" data-key="m_drop_factor" data-fmt=".1f">2.1</span>× (to 0.1 × the
# clipped gradient). With m and v both fresh, Adam's bias correction makes the first updates
# ±LR for every weight, far larger than usual. On the same batches as the uninterrupted `healthy`
# run, the loss is higher in
# <span data-run="optimizer-reset" data-key="loss_bump_steps_higher">17</span> of the
# <span data-run="optimizer-reset" data-key="loss_bump_steps">20</span> steps after the reload, by
# <span data-run="optimizer-reset" data-key="loss_bump_mean" data-fmt=".2f">0.09</span> on average.
# Remedy: save and load the optimizer state with the model; then the resumed run is identical to
# the uninterrupted one, loss for loss.
#
# **Español.** En el paso 300 la ejecución "se reanuda" desde un punto de control que restaura los
# pesos pero no los momentos de AdamW. El panel 5 lo muestra: la norma del segundo momento cae de
# golpe y las primeras actualizaciones son grandes; la pérdida sube durante unos 20 pasos respecto
# a la ejecución sin interrupción. Remedio: guardar y cargar también el estado del optimizador.

# %%
draw(run("optimizer-reset"), panels=[1, 5], step=300, window=(270, 339))

# %%
v = walk("optimizer-reset")
resumed = patterns.resume(at=300, steps=320, with_optimizer=True)
same = resumed.steps["loss"] == run("healthy").steps["loss"][:320]
print("resumed with the optimizer state, identical to the uninterrupted run:", same)
assert v.pattern == "optimizer-reset" and same

# %% [markdown]
# ## 6 · Non-recovery NaN: `nan`
#
# A model choice: the attention softmax written as `exp(s) / sum(exp(s))`, without subtracting
# the row's maximum first (`F.softmax` does subtract it). exp overflows float32 above
# <span data-run="nan" data-key="exp_overflow_fp32" data-fmt=".2f">88.72</span>. At a peak LR of
# <span data-run="nan" data-key="peak_lr" data-fmt="g">0.006</span> the largest attention logit
# grows with training; at step
# <span data-run="nan" data-key="first_bad_step">109</span> it goes from
# <span data-run="nan" data-key="attn_max_score_before" data-fmt=".1f">86.8</span> to
# <span data-run="nan" data-key="attn_max_score_at" data-fmt=".1f">100.5</span>: inf / inf = nan, the
# loss is nan, and the update writes nan into every weight. Panel 8 finds that step without any
# guessing: it logs a hash of the parameters and their non-finite count after every update, so the
# first bad step is the first count above 0, and the hash of the step before it identifies the last
# clean state. The count never returns to 0: every later update reads nan weights.
#
# **Español.** Una elección de modelo: la softmax de atención escrita como `exp(s)/sum(exp(s))`,
# sin restar el máximo. exp desborda float32 por encima de 88,72; en el paso
# <span data-run="nan" data-key="first_bad_step">109</span> un logit pasa de
# ahí, inf/inf = nan y la actualización escribe nan en todos los pesos. El panel 8 encuentra ese
# paso: el primer recuento de parámetros no finitos mayor que 0. Nunca vuelve a 0.

# %%
nan_bad = patterns.first_bad_step(run("nan"))
draw(run("nan"), panels=[1, 4, 8], step=nan_bad, window=(nan_bad - 40, len(run("nan")) - 1))

# %%
v = walk("nan")
attn = run("nan").steps["attn_max_score"]
print(f"first bad step {nan_bad}: largest logit {attn[nan_bad - 1]:.4g} → {attn[nan_bad]:.4g}")
assert v.pattern == "nan-non-recovery" and sc.first_nonfinite(run("nan"))["loss"] == nan_bad
# the claim: float32's exp limit is crossed at that step, not before
assert max(attn[:nan_bad]) < math.log(3.4028234663852886e38) < attn[nan_bad]

# %% [markdown]
# **Exercise 1.** From panel 8's column `nonfinite_params` of the `nan` run, find the first step
# whose update left a non-finite parameter, and check that the count never returns to 0.
#
# **Español.** **Ejercicio 1.** Con la columna `nonfinite_params` (panel 8) de la ejecución `nan`,
# encuentra el primer paso cuya actualización dejó un parámetro no finito.

# %% [stub] id=first-bad-step
nan_log = run("nan")
first_bad = exercise_todo("first-bad-step", "find the first step with nonfinite_params > 0")
print("first bad step:", first_bad)

# %% [solution] id=first-bad-step
nan_log = run("nan")
first_bad = next(s for s, n in enumerate(nan_log.steps["nonfinite_params"]) if n > 0)
print("first bad step:", first_bad)

# %% [check] id=first-bad-step
assert first_bad == patterns.first_bad_step(nan_log), "first-bad-step: the first step whose count is above 0"
assert all(n > 0 for n in nan_log.steps["nonfinite_params"][first_bad:]), "first-bad-step: it never recovers"

# %% [markdown]
# **Remedy: roll back to the last finite checkpoint, then fix the cause.**
# `patterns.train_with_rollback` keeps an in-memory checkpoint (weights and AdamW state) every 25
# steps. When panel 8's count goes above 0 (step
# <span data-run="nan" data-key="rollback_from">109</span>) it reloads the checkpoint of step
# <span data-run="nan" data-key="rollback_to">100</span>, whose parameter hash matches the log's
# clean state, and switches the softmax to the max-subtracting one (the same function, without the
# overflow). The run then finishes with finite weights; its loss over the last 10 steps is
# <span data-run="nan" data-key="rollback_loss_last10" data-fmt=".2f">1.33</span>. A reload *without*
# the fix replays the same batches on the same weights and hits the same nan again at step
# <span data-run="nan" data-key="reload_only_fails_again_at">109</span>: the overflow is deterministic.
# (Phase 20 does the same with checkpoints on disk: `utils.checkpoint`.)
#
# **Español.** **Remedio: volver al último punto de control finito y corregir la causa.** Se
# guarda un punto de control en memoria cada 25 pasos; en el paso
# <span data-run="nan" data-key="rollback_from">109</span> se recarga el del
# <span data-run="nan" data-key="rollback_to">100</span> y se
# cambia la softmax por la que resta el máximo. La ejecución termina con pesos finitos. Recargar
# *sin* corregir repite el mismo nan en el mismo paso: el desbordamiento es determinista.

# %%
fixed = patterns.train_with_rollback("nan", every=25, fix="manual")
again = patterns.train_with_rollback("nan", every=25, fix=None, max_rollbacks=1)
print("with the fix:   ", [(e["kind"], e["step"], e.get("to")) for e in fixed.events],
      f"steps {len(fixed)}, non-finite weights at the end: {fixed.steps['nonfinite_params'][-1]}")
print("reload only:    ", [(e["kind"], e["step"], e.get("to")) for e in again.events])
assert max(fixed.steps["nonfinite_params"]) == 0 and len(fixed) == config_for("nan").steps
rb = [e for e in fixed.events if e["kind"] == "rollback"]
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
# **Español.** La comprobación también debe poder decir "nada": en la ejecución sana todas las
# respuestas son no.

# %%
v = walk("healthy")
assert v.pattern == "none"

# %% [markdown]
# **Exercise 2.** The tree tells `fp16-overflow` from `nan-non-recovery` by the run's dtype only.
# Make a copy of the `nan` log whose `meta["dtype"]` says `"float16"`, run the check on it and store
# the pattern it names in `answer`. What does this tell you about reading the tree's verdict?
#
# **Español.** **Ejercicio 2.** El árbol distingue `fp16-overflow` de `nan-non-recovery` solo por el
# dtype. Copia el registro `nan`, cambia `meta["dtype"]` a `"float16"`, aplica la comprobación y
# guarda el patrón en `answer`.

# %% [stub] id=dtype-decides
answer = exercise_todo("dtype-decides", "check a copy of the nan log that claims float16")
print(answer)

# %% [solution] id=dtype-decides
log16 = copy.deepcopy(run("nan"))
log16.meta = {**log16.meta, "dtype": "float16"}
answer = sc.check(log16).pattern
print(answer)

# %% [check] id=dtype-decides
assert answer == "fp16-overflow", "dtype-decides: with float16 in the metadata the tree names fp16-overflow"

# %% [markdown]
# The verdict is a *most likely* pattern from the panels, not a proof: here the nan came from
# float32's own limit. Always read the path, not only the name.
#
# **Español.** El veredicto es el patrón *más probable* según los paneles, no una prueba: aquí el
# nan viene del límite de float32. Lee siempre el camino, no solo el nombre.

# %% [markdown]
# ## Every engineered run, classified
#
# **Español.** Todas las ejecuciones, clasificadas.

# %%
for name in ["broken", "one-batch", "control-no-rare-piece", "control-mixed-shard", "fp16-overflow",
             "fp16-overflow-scaled", "fp16-overflow-bf16", "lr-discontinuity", "lr-continuous",
             "optimizer-reset", "nan", "healthy"]:
    verdict = sc.check(run(name))
    print(f"{name:22s} → {verdict.pattern:17s} runner-up {verdict.runner_up}")
