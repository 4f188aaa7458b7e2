# %% [markdown]
# # Phase 18 · 1 — AdamW, with its moments made visible
#
# Every run of the course is trained with **AdamW**. Most of the time you can treat it as a
# black box that "follows the gradient, with momentum". To understand the §A13 spike you have
# to open the box: AdamW keeps two numbers per weight, and those numbers decide how far each
# weight moves. In this notebook you read them from a real run, at the very step where the
# spike happens.
#
# 🇪🇸 **Español.** Todas las ejecuciones del curso se entrenan con **AdamW**. Casi siempre se
# puede tratar como una caja negra que "sigue el gradiente con inercia". Para entender el pico
# §A13 hay que abrirla: AdamW guarda dos números por peso, y esos números deciden cuánto se
# mueve cada peso. Aquí los leemos de una ejecución real, justo en el paso del pico.

# %% [markdown]
# ## 1. The update rule
#
# For each weight `w` with gradient `g`, at optimizer step `t` (1, 2, 3, ...):
#
# ```
# m ← β1·m + (1 − β1)·g            first moment: a running mean of g       (β1 = 0.9)
# v ← β2·v + (1 − β2)·g²           second moment: a running mean of g²     (β2 = 0.999)
# m̂ = m / (1 − β1^t),  v̂ = v / (1 − β2^t)      bias correction (m and v start at 0)
# w ← w − lr·wd·w                  decoupled weight decay (wd = 0.1, matrices only)
# w ← w − lr · m̂ / (√v̂ + ε)        the Adam step                           (ε = 1e-8)
# ```
#
# The number `m̂ / (√v̂ + ε)` is the **effective step in units of the learning rate**. If
# the gradient of a weight is multiplied by 100, both `m̂` and `√v̂` are multiplied by 100 and
# the step does not change: Adam moves each weight by *lr times a number of order one*,
# whatever the gradient's scale. `utils/spikelab/optim_view.py` reads these quantities from a real
# optimizer.
#
# 🇪🇸 **Español.** Para cada peso, AdamW guarda `m` (media móvil del gradiente) y `v` (media móvil del
# gradiente al cuadrado), los corrige por sesgo y mueve el peso `lr · m̂ / (√v̂ + ε)`, más el weight
# decay desacoplado `lr·wd·w`. Si el gradiente se multiplica por 100, `m̂` y `√v̂` también, y el paso no
# cambia: Adam mueve cada peso *lr por un número del orden de uno*.

# %%
import statistics

import matplotlib.pyplot as plt
import torch

from utils.spikelab import optim_view
from utils.spikelab.config import config_for
from utils.course.exercises import exercise_todo
from utils.text import say
from utils.spikelab.train import TrainingRun
from utils.course.yours import show

# %% [markdown]
# ## 2. A real run, stopped just before the late shard
#
# The `broken` run is the healthy recipe with one change of data order: the 20 rare sentences
# (with `written`/`bitten`) are held back and arrive as 15 consecutive batches from step 312
# on. We train it for 312 steps (steps 0 to 311), so the next step is the first rare batch,
# and look inside the optimizer. The four rare pieces have **never** been in a batch yet.
#
# 🇪🇸 **Español.** La ejecución `broken` es la receta sana con un solo cambio en el orden de los datos:
# las 20 frases raras llegan como 15 batches seguidos desde el paso 312. Entrenamos 312 pasos y miramos
# dentro del optimizador: las cuatro piezas raras nunca han estado en un batch.

# %%
run = TrainingRun(config_for("broken"))
init_emb = run.model.tok_emb.weight.detach().clone()      # the embedding table at step 0
for _ in range(312):
    run.step(instrument=False)

W = run.model.tok_emb.weight                              # the input embedding table
state = run.opt.state[W]
rare = {p: run.tok.vocab[p] for p in ["▁w", "ri", "tten", "▁bi"]}
common = {p: run.tok.vocab[p] for p in ["▁the", "▁a", "▁will"]}
print("AdamW state of tok_emb.weight:", {k: tuple(v.shape) for k, v in sorted(state.items())},
      "| steps taken:", int(state["step"]))
print(f"{'piece':6} {'|m| of row':>11} {'|v| of row':>11} {'row norm':>9}")
for p, i in {**rare, **common}.items():
    print(f"{p:6} {state['exp_avg'][i].norm().item():11.2e} {state['exp_avg_sq'][i].norm().item():11.2e} "
          f"{W[i].norm().item():9.4f}")
assert all(state["exp_avg"][i].abs().max() == 0 and state["exp_avg_sq"][i].abs().max() == 0 for i in rare.values())
assert min(W[i].norm() for i in common.values()) > 30 * max(init_emb[i].norm() for i in rare.values())

# %% [markdown]
# The rare rows have `m = v = 0` exactly: an embedding row gets a gradient only when its piece
# is in the batch. Their norm is still the tiny init size, while common rows have become tens
# of times larger. Yet the rare rows did change a little: **decoupled weight decay**
# shrinks every matrix weight by the factor `(1 − lr·wd)` at every step, gradient or not. We
# can check that exactly against the learning rates of the 312 steps:
#
# 🇪🇸 **Español.** Las filas raras tienen `m = v = 0` exactamente: una fila de embedding solo recibe
# gradiente cuando su pieza está en el batch. Su norma sigue siendo la diminuta del inicio, mientras que
# las filas comunes son decenas de veces mayores. Aun así cambiaron un poco: el **weight decay
# desacoplado** encoge cada peso en `(1 − lr·wd)` en cada paso.

# %%
shrink = 1.0
for s in range(312):
    shrink *= 1 - run.lr(s) * run.cfg.weight_decay
for p, i in rare.items():
    ratio = (W[i].norm() / init_emb[i].norm()).item()
    print(f"{p:5} norm now / norm at init = {ratio:.5f}   Π(1 − lr·wd) over 312 steps = {shrink:.5f}")
    assert abs(ratio - shrink) < 1e-4

# %% [markdown]
# ## 3. The effective step of the last ordinary step
#
# `optim_view.adam_ratio(opt, p)` returns `m̂ / (√v̂ + ε)` for every weight of `p`, as the last
# step used it. Over the whole model, after 312 steps:
#
# 🇪🇸 **Español.** `optim_view.adam_ratio(opt, p)` da `m̂ / (√v̂ + ε)` de cada peso en el último paso.
# Sobre todo el modelo, tras 312 pasos:

# %%
ratios = torch.cat([optim_view.adam_ratio(run.opt, p).abs().flatten() for p in run.params])
t = int(state["step"])
median, p99 = ratios.quantile(0.5).item(), ratios.quantile(0.99).item()
print(f"|m̂/(√v̂+ε)| over {ratios.numel()} weights after {t} steps: median {median:.3f}, "
      f"99th percentile {p99:.3f}, max {ratios.max().item():.3f}")
print(f"the largest value ANY gradient history could give at step {t}: {optim_view.ratio_bound(t):.2f}")
print("common rows, mean |ratio|:", {p: round(optim_view.adam_ratio(run.opt, W)[i].abs().mean().item(), 3)
                                     for p, i in common.items()})
assert median < 0.3 and ratios.max().item() <= optim_view.ratio_bound(t)

fig, ax = plt.subplots(figsize=(7, 2.8), dpi=70)
ax.hist(torch.log10(ratios[ratios > 0]).numpy(), bins=80, color="C0")
ax.axvline(0, color="k", lw=0.8)
ax.set(xlabel="log10 |m̂ / (√v̂ + ε)|   (0 = a step of exactly lr)", ylabel="weights",
       xlim=(-4, 0.7), title=f"Adam's step in units of lr, after {t} steps of the broken run")
fig.tight_layout()
plt.show()

# %% [markdown]
# In a settled run most weights move by **a small fraction of lr**: their gradient changes sign
# from batch to batch, so `m̂` (the mean) is much smaller than `√v̂` (the typical size). A weight
# moves by a full lr only when its gradient has pointed the same way for a while. The ratio can
# never be large: Cauchy–Schwarz bounds it (`optim_view.ratio_bound`, about 7 for these betas once
# the bias corrections have faded, and smaller early on).
#
# 🇪🇸 **Español.** En una ejecución asentada casi todos los pesos se mueven **una pequeña fracción de
# lr**: su gradiente cambia de signo de un batch a otro, así que `m̂` es mucho menor que `√v̂`. Un peso
# solo avanza un lr completo cuando su gradiente apunta en la misma dirección durante un tiempo. El
# cociente nunca puede ser grande: está acotado (`optim_view.ratio_bound`).

# %% [markdown]
# ## 4. Step 312: the first gradient of the rare rows
#
# Now the first rare batch. In the runs we measured its gradient norm before clipping was
# <span data-run="broken" data-key="grad_norm_preclip" data-fmt=".0f" data-bound="min">&gt; 51</span>,
# <span data-run="broken" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 31</span>× the median of
# the previous 50 steps (your run's numbers appear below the next cell), almost all of it in the
# rare embedding rows (Phase 17 showed why a tiny row gets a large gradient). Clipping scales
# the whole gradient down to norm 1. Then Adam takes its step. We keep copies of the state *before* the step to compare afterwards.
#
# 🇪🇸 **Español.** Ahora llega el primer batch raro. En las ejecuciones medidas, la norma de su gradiente
# antes del clipping fue
# <span data-run="broken" data-key="grad_norm_preclip" data-fmt=".0f" data-bound="min">&gt; 51</span>,
# <span data-run="broken" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 31</span>
# veces la mediana de los 50 pasos anteriores (los números de tu ejecución aparecen tras la celda
# siguiente), casi toda en las filas raras. El clipping reduce el gradiente entero a norma 1 y Adam da
# su paso. Guardamos el estado *anterior*.

# %%
before = {id(p): (run.opt.state[p]["exp_avg"].clone(), run.opt.state[p]["exp_avg_sq"].clone())
          for p in run.params}
old_params = {id(p): p.detach().clone() for p in run.params}
record = run.step()                 # step 312, instrumented like every logged step
lr = record["lr"]
print(f"step 312: loss {record['loss']:.2f}, pre-clip gradient norm {record['grad_norm_preclip']:.0f}, lr {lr:.3e}")
baseline = statistics.median(run.log.steps["grad_norm_preclip"][262:312])     # the 50 steps before
show(say("step 312: pre-clip gradient norm **{g:.0f}**, **{ratio:.0f}×** the median of the 50 steps before",
         "paso 312: norma del gradiente antes del clipping **{g:.0f}**, **{ratio:.0f}×** la mediana de los 50 "
         "pasos anteriores"),
     {"g": record["grad_norm_preclip"], "ratio": record["grad_norm_preclip"] / baseline})

move = (W.detach() - old_params[id(W)])
step_ratio = optim_view.adam_ratio(run.opt, W)
first = optim_view.first_gradient_ratio(int(state["step"]))
print(f"{'piece':6} {'mean |ratio|':>12} {'row moved by':>13}")
for p, i in {**rare, **common}.items():
    print(f"{p:6} {step_ratio[i].abs().mean().item():12.3f} {move[i].norm().item():13.4f}")
print(f"a weight whose FIRST gradient arrives at step {int(state['step'])}: ratio {first:.3f}")
assert all(abs(step_ratio[i].abs().mean().item() - first) < 0.01 for i in rare.values())
assert min(move[i].norm() for i in rare.values()) > 5 * max(move[i].norm() for i in common.values())

# %% [markdown]
# Every rare row moved, coordinate by coordinate, by (almost exactly) the same amount: 1.64 × lr,
# the value the formula gives for a weight whose first gradient arrives at step 313 (coordinates
# with a gradient close to ε move slightly less). With `m = v = 0` before the step,
#
# `m̂ = (1 − β1)·g / (1 − β1^t)` and `√v̂ = √(1 − β2)·|g| / √(1 − β2^t)`,
#
# so `g` cancels: the rare rows make a **full-size, lr-scaled move** in the direction of this
# one batch's gradient, however large or small that gradient was. The common rows, whose
# moments remember 312 steps of history, move about an order of magnitude less. This is how Adam
# *bounds* the damage of a gradient spike per weight, and also why it cannot *prevent* it: a
# never-trained row always gets the full step.
#
# 🇪🇸 **Español.** Cada coordenada de cada fila rara se movió lo mismo, 1.64 × lr: lo que da la fórmula
# para un peso cuyo primer gradiente llega en el paso 313. Con `m = v = 0`, `g` se cancela: las filas
# raras dan un paso **completo, del tamaño de lr**, sea cual sea el gradiente. Las filas comunes, con
# 312 pasos de historia, se mueven un orden de magnitud menos. Adam *acota* el daño de un pico por peso,
# pero no puede *evitarlo*.

# %% [markdown]
# ## 5. What did clipping change?
#
# `optim_view.ratio_with(m, v, t, g)` computes the ratio the step would have used for a given
# gradient, from the state before the step. After `run.step()`, each parameter's `.grad` holds
# the *clipped* gradient; multiplying it back by the clipping factor gives the raw one. Compare
# the two steps:
#
# 🇪🇸 **Español.** `optim_view.ratio_with(m, v, t, g)` calcula el cociente que habría usado el paso
# con otro gradiente. Comparamos el paso con el gradiente recortado y sin recortar:

# %%
unclip = (record["grad_norm_preclip"] + 1e-6) / run.cfg.clip     # clip_grad_norm_'s factor, inverted
clipped_r, raw_r, rare_mask = [], [], []
for p in run.params:
    m0, v0 = before[id(p)]
    clipped_r.append(optim_view.ratio_with(m0, v0, 312, p.grad).flatten())
    raw_r.append(optim_view.ratio_with(m0, v0, 312, p.grad * unclip).flatten())
    in_rare = torch.zeros_like(p, dtype=torch.bool)
    if p is W:
        in_rare[list(rare.values())] = True
    rare_mask.append(in_rare.flatten())
clipped_r, raw_r, rare_mask = torch.cat(clipped_r), torch.cat(raw_r), torch.cat(rare_mask)
assert torch.allclose(clipped_r[: W.numel()].view_as(W), step_ratio, atol=1e-6)   # the real step
cos = (clipped_r @ raw_r / (clipped_r.norm() * raw_r.norm())).item()
for name, r in [("clipped (what ran)", clipped_r), ("not clipped", raw_r)]:
    print(f"{name:19} rare rows: mean |ratio| {r[rare_mask].abs().mean().item():.3f}   "
          f"all other weights: median |ratio| {r[~rare_mask].abs().median().item():.3f}")
print(f"cosine between the two updates: {cos:.2f}")
assert abs(clipped_r[rare_mask].abs().mean() - raw_r[rare_mask].abs().mean()) < 0.01
assert raw_r[~rare_mask].abs().median() > 2 * clipped_r[~rare_mask].abs().median()

# %% [markdown]
# Clipping did **not** change the rare rows' step at all: Adam normalises their first gradient
# whatever its size. What clipping changed is the *mix*: with the gradient scaled down, the rest
# of the model mostly kept following its momentum; without clipping, every other weight would
# also have lurched towards this one odd batch. So clipping protects the healthy weights, but
# it cannot shrink the move of a row that Adam sees for the first time. Keep this in mind when
# Phase 19 tries `clip-0.5` as a remedy.
#
# 🇪🇸 **Español.** El clipping **no** cambió el paso de las filas raras: Adam normaliza su primer
# gradiente sea cual sea su tamaño. Lo que cambió es la *mezcla*: con el gradiente reducido, el resto
# del modelo siguió sobre todo su inercia; sin clipping, todos los demás pesos también se habrían
# lanzado hacia ese batch extraño. El clipping protege los pesos sanos, pero no puede reducir el paso de
# una fila que Adam ve por primera vez.

# %% [markdown]
# ### Exercise 1 — predict one weight's move
#
# Take the weight `W[tten, 0]` (row of `tten`, first coordinate). From the optimizer's state
# *after* step 312 (`state["exp_avg"]`, `state["exp_avg_sq"]`, `state["step"]`), the step's `lr`,
# `run.cfg.betas`, `run.cfg.eps` and `run.cfg.weight_decay`, and the weight's old value
# `old_params[id(W)]`, compute the value AdamW must have written: first the decay, then the
# Adam step. Store it in `predicted` (a float). Do not use `optim_view`.
#
# 🇪🇸 **Español.** Ejercicio 1: para el peso `W[tten, 0]`, calcula a partir del estado del
# optimizador tras el paso 312 el valor que AdamW escribió: primero el decaimiento y luego el
# paso de Adam. Guárdalo en `predicted` sin usar `optim_view`.

# %% tags=["stub"] exercise="predict-adam-move"
predicted = exercise_todo("predict-adam-move", say("the value AdamW wrote into W[tten, 0] at step 312",
                                                  "el valor que AdamW escribió en W[tten, 0] en el paso 312"))

# %% tags=["solution"] exercise="predict-adam-move"
i = rare["tten"]
(b1, b2), eps, wd = run.cfg.betas, run.cfg.eps, run.cfg.weight_decay
steps_done = int(state["step"])
m_hat = state["exp_avg"][i, 0].item() / (1 - b1 ** steps_done)
v_hat = state["exp_avg_sq"][i, 0].item() / (1 - b2 ** steps_done)
old = old_params[id(W)][i, 0].item()
predicted = old - lr * wd * old - lr * m_hat / (v_hat ** 0.5 + eps)
print(f"old {old:+.6f}  predicted {predicted:+.6f}  actual {W[i, 0].item():+.6f}")

# %% tags=["check"] exercise="predict-adam-move"
from utils.text import say

assert abs(predicted - W[rare["tten"], 0].item()) < 1e-6, say(
    "predict-adam-move: your value differs from the weight AdamW wrote (bias correction? decay first?)",
    "predict-adam-move: tu valor no coincide con el peso que escribió AdamW (¿corrección de sesgo? "
    "¿el weight decay primero?)")

# %% [markdown]
# ### Exercise 2 — the same gradient, several steps in a row
#
# The shard is fifteen batches of the same twenty sentences: a rare row gets a gradient at
# step 312, again at 313, and so on, not just once. Write `repeat_ratio(t, k, b1=0.9, b2=0.999)`:
# the ratio `|m̂| / √v̂` (ignore ε) at step `t + k − 1` of a weight whose moments are zero before
# step `t` and that receives the **same** gradient `g ≠ 0` at each of the `k` steps `t, …, t + k − 1`.
# Work it out from how Adam updates its moments (each step `m ← β1·m + (1 − β1)·g`, and `v` alike
# with `g²`) and from the bias correction, which divides by `1 − β^step` with the step count of
# the last step: a loop over the steps and a closed form both pass. The check tries several `t`,
# `k` and betas, including `k = 1`, `t = 1` and other betas, and compares `repeat_ratio(313, 1)`
# with what the rare rows did above.
#
# 🇪🇸 **Español.** Ejercicio 2: el shard son quince batches de las mismas frases, así que una fila rara
# recibe gradiente en el paso 312, otra vez en el 313, etc. Escribe `repeat_ratio(t, k)`: el cociente
# `|m̂| / √v̂` (sin ε) en el paso `t + k − 1` de un peso con momentos nulos antes del paso `t` que
# recibe el **mismo** gradiente `g ≠ 0` en cada uno de los `k` pasos. Dedúcelo de cómo Adam actualiza
# sus momentos y de la corrección del sesgo; vale un bucle o una fórmula cerrada.

# %% tags=["stub"] exercise="repeat-gradient"
def repeat_ratio(t, k, b1=0.9, b2=0.999):
    return exercise_todo("repeat-gradient", say("|m̂| / √v̂ after k equal gradients from step t on, moments zero before",
                                                "|m̂| / √v̂ tras k gradientes iguales desde el paso t, con los momentos "
                                                "a cero antes"))

# %% tags=["solution"] exercise="repeat-gradient"
def repeat_ratio(t, k, b1=0.9, b2=0.999):
    last = t + k - 1                                   # the step count Adam's bias correction uses
    m_hat = (1 - b1 ** k) / (1 - b1 ** last)           # m after k equal gradients is (1 − β1^k)·g
    v_hat = (1 - b2 ** k) / (1 - b2 ** last)           # v is (1 − β2^k)·g²; g cancels in the ratio
    return m_hat / v_hat ** 0.5


print("first gradient at step t:", {t: round(repeat_ratio(t, 1), 3) for t in (1, 10, 100, 313, 1000, 10000)})

# %% tags=["check"] exercise="repeat-gradient"
from utils.text import say


def _reference(t, k, b1, b2, g=-0.37):
    m = v = 0.0
    for _s in range(1, t + k):                         # Adam's recurrences, step by step
        _g = g if _s >= t else 0.0
        m, v = b1 * m + (1 - b1) * _g, b2 * v + (1 - b2) * _g * _g
    return abs(m / (1 - b1 ** (t + k - 1))) / (v / (1 - b2 ** (t + k - 1))) ** 0.5


for _t, _k, _b in [(1, 1, (0.9, 0.999)), (313, 1, (0.9, 0.999)), (313, 15, (0.9, 0.999)), (1, 5, (0.9, 0.999)),
                   (50, 3, (0.8, 0.99)), (2000, 40, (0.9, 0.95))]:
    _want = _reference(_t, _k, *_b)
    assert abs(repeat_ratio(_t, _k, *_b) - _want) < 1e-6 * _want, say(
        f"repeat-gradient: t={_t}, k={_k}, betas={_b}: expected {_want:.6f}, got {repeat_ratio(_t, _k, *_b)}",
        f"repeat-gradient: t={_t}, k={_k}, betas={_b}: se esperaba {_want:.6f}, tu función da "
        f"{repeat_ratio(_t, _k, *_b)}")
assert abs(repeat_ratio(313, 1) - step_ratio[rare["tten"]].abs().mean().item()) < 0.01, say(
    "repeat-gradient: repeat_ratio(313, 1) should match the rare rows' measured ratio",
    "repeat-gradient: repeat_ratio(313, 1) debería coincidir con el cociente medido en las filas raras")

# %% [markdown]
# With `k = 1` this is a first gradient: after a dip during the first steps, the first move
# *grows* with `t`: beyond step 100 or so, the later a piece is seen for the first time, the
# bigger (relative to lr) its first move, up to (1 − β1)/√(1 − β2) ≈ 3.16. A rare piece arriving
# late in training, at high learning rate, is exactly the §A13 situation.
#
# 🇪🇸 **Español.** Con `k = 1` es un primer gradiente: tras un descenso en los primeros pasos, el
# primer movimiento *crece* con `t`: cuanto más tarde se ve una pieza por primera vez, mayor
# (respecto a lr) es su primer movimiento. Una pieza rara que llega tarde, con un learning rate
# alto, es exactamente la situación §A13.

# %% [markdown]
# ### Question — fifteen batches in a row
#
# Use your `repeat_ratio` to decide, then press **Check** (your answer is recorded in your notes
# for the grader; the last one counts).
#
# 🇪🇸 **Español.** Usa tu `repeat_ratio` para decidir y pulsa **Comprobar** (tu respuesta se guarda
# en tus notas; cuenta la última).

# %%
from utils.course.choice import Choice

repeat_q = Choice("18.01", "repeat-trend", say(
    "If a rare row got the same gradient at each of the fifteen shard steps from 312 on, how would its move "
    "per step (relative to lr) change over them, from the first move of about 1.64?",
    "Si una fila rara recibiera el mismo gradiente en cada uno de los quince pasos del shard desde el "
    "312, ¿cómo cambiaría su movimiento por paso (respecto a lr), desde el primero de unos 1,64?"), options={
    "a": (say("It shrinks: √v̂ catches up with the gradient and the moves fade.",
              "Se reduce: √v̂ alcanza al gradiente y los movimientos se apagan."),
          say("Not within fifteen steps: v forgets with β2 = 0.999, a memory of about a thousand steps, so √v̂ "
              "grows slowly, while m (β1 = 0.9) fills up in about ten. Print repeat_ratio(313, k) for k = 1 … 15.",
              "No en quince pasos: v olvida con β2 = 0,999, una memoria de unos mil pasos, así que √v̂ crece "
              "despacio, mientras m (β1 = 0,9) se llena en unos diez. Imprime repeat_ratio(313, k) para k = 1 … 15.")),
    "b": (say("It stays at about 1.64: Adam normalises every step by the gradient's size.",
              "Se queda en unos 1,64: Adam normaliza cada paso por el tamaño del gradiente."),
          say("Adam divides m̂ by √v̂, but the two fill up at different speeds (β1 = 0.9 against β2 = 0.999), so "
              "their ratio changes from step to step even for a constant gradient.",
              "Adam divide m̂ por √v̂, pero los dos se llenan a distinta velocidad (β1 = 0,9 frente a "
              "β2 = 0,999), así que su cociente cambia de un paso a otro incluso con un gradiente constante.")),
    "c": (say("It grows, to about twice the first move: m fills up within about ten steps, v̂ needs about a "
              "thousand.",
              "Crece, hasta el doble del primero: m se llena en unos diez pasos, v̂ necesita unos mil."),
          say("repeat_ratio(313, 15) is about 3.4: Adam's moves for a fresh row get bigger while the block lasts, "
              "and fall back towards 1 only after hundreds of steps. Per-weight normalisation bounds a spike's "
              "first move; it does not slow down a block of same-kind batches.",
              "repeat_ratio(313, 15) vale unos 3,4: los movimientos de una fila nueva crecen mientras dura el "
              "bloque y solo vuelven hacia 1 tras cientos de pasos. La normalización por peso acota el primer "
              "movimiento de un pico; no frena un bloque de batches iguales.")),
}, right="c")

# %% tags=["stub"] exercise="repeat-trend"
repeat_q   # choose an option and press Check / elige una opción y pulsa Comprobar

# %% tags=["solution"] exercise="repeat-trend"
repeat_q.choose("c")

# %% [markdown]
# ## Your lesson from this notebook
#
# Write the one thing from this notebook that you would do differently next time, in one line,
# and press **Save lesson**. It is appended, dated and tagged with this notebook (`notebook 18.01`), to
# `learners/<you>/phase-18/notes/lessons.md`; the grader looks for one lesson per notebook.
#
# 🇪🇸 **Español.** Escribe en una línea lo que harías distinto la próxima vez tras este cuaderno y pulsa
# **Guardar lección**. Se añade, con la fecha y la etiqueta de este cuaderno (`notebook 18.01`), a
# `learners/<tú>/phase-18/notes/lessons.md`; el corrector busca una lección por cuaderno.

# %% tags=["nbval-ignore-output"]
from utils.course.lesson_box import lesson_box

lesson_box("18.01")
