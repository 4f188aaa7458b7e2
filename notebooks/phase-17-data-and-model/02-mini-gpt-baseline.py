# %% [markdown]
# # Phase 17 · 2 — The mini-GPT and its healthy baseline
#
# The grammar tutor is a decoder-only transformer small enough to read on one screen
# (`utils/spikelab/model.py`, after nanoGPT) and to train in seconds on a laptop CPU. In this notebook
# you walk through its code, count its parameters, train the **healthy** run (plain shuffled
# data, no late shard) and let it write a few sentences. The healthy run is the baseline that
# every later experiment is compared with.
#
# 🇪🇸 **Español.** El tutor de gramática es un transformer solo decoder lo bastante pequeño para leerlo
# en una pantalla (`utils/spikelab/model.py`) y entrenarlo en segundos en una CPU. Aquí recorres su
# código, cuentas sus parámetros, entrenas la ejecución **sana** (datos barajados, sin shard tardío) y
# le pides que escriba frases. Es la referencia de todos los experimentos.

# %%
import copy
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from utils.spikelab import corpus, metrics, runlog, symptoms
from utils.spikelab.bpe import BOS_ID
from utils.spikelab.config import config_for
from utils.course.exercises import exercise_todo
from utils.text import say
from utils.spikelab.model import Block, GPTConfig, MiniGPT
from utils.spikelab.train import TrainingRun, rows_to_tensors
from utils.course.yours import show

# %% [markdown]
# ## 1. The model, piece by piece
#
# ```
# token ids ─► tok_emb ─► Block 0 ─► Block 1 ─► ln_f ─► head ─► logits (one score per piece)
#                         Block: x = x + attn(ln1(x));  x = x + mlp(ln2(x))      (pre-LN)
# ```
#
# Four choices in `utils/spikelab/model.py` matter for the rest of the course:
#
# 1. **No positional embedding.** The only input is the token embedding. Causal attention
#    still sees order through its mask (position *t* attends to *t* positions), and the
#    sentences are short and regular.
# 2. **Untied embeddings.** The input table `tok_emb` and the output layer `head` are separate
#    matrices. A piece's input row is trained *only* when that piece appears in a batch.
# 3. **Tiny token-embedding init** (std 5e-4, while every other matrix starts at std 0.02).
#    A row that is never trained keeps this tiny size.
# 4. **Pre-LayerNorm blocks.** Each block normalises its input before attention and MLP. A
#    LayerNorm divides by the row's standard deviation, so the gradient that reaches a *tiny*
#    embedding row is multiplied by a large factor (shown below).
#
# 🇪🇸 **Español.** Cuatro decisiones importan en el curso: (1) sin embedding posicional, el orden llega
# por la máscara causal; (2) embeddings de entrada y salida no compartidos (untied): la fila de entrada
# de una pieza solo se entrena cuando la pieza aparece en un batch; (3) inicialización diminuta de los
# embeddings (desviación 5e-4); (4) bloques pre-LayerNorm, que dividen por la desviación de la fila, de
# modo que el gradiente que llega a una fila diminuta se multiplica mucho.

# %%
run = TrainingRun(config_for("healthy"))        # builds tokenizer, data order, model, AdamW
model = run.model
print(model)
print("positional embedding:", model.pos_emb, "| tied:", model.head.weight is model.tok_emb.weight)
print(f"std of tok_emb at init: {model.tok_emb.weight.std().item():.1e}   "
      f"std of blocks.0.mlp.fc.weight: {model.blocks[0].mlp.fc.weight.std().item():.3f}")
assert model.pos_emb is None and model.head.weight is not model.tok_emb.weight
assert abs(model.tok_emb.weight.std().item() - 5e-4) < 5e-5

# %% [markdown]
# ## 2. Counting the parameters
#
# The model has <span data-run="facts" data-key="n_params">456448</span> parameters. Most of
# them sit in the two blocks; the two vocabulary-sized matrices (`tok_emb` and `head`,
# 233 × 128 each) are small by comparison.
#
# 🇪🇸 **Español.** El modelo tiene 456448 parámetros; la mayoría están en los dos bloques.

# %%
groups = {"tok_emb": model.tok_emb, "blocks.0": model.blocks[0], "blocks.1": model.blocks[1],
          "ln_f": model.ln_f, "head": model.head}
for name, module in groups.items():
    n = sum(p.numel() for p in module.parameters())
    print(f"{name:9} {n:7d}  ({n / model.num_params():.0%})")
print(f"{'total':9} {model.num_params():7d}")
assert sum(sum(p.numel() for p in m.parameters()) for m in groups.values()) == model.num_params() == 456448

# %% [markdown]
# ### Exercise 1 — a block's size by formula
#
# Write `block_params(d)`: the number of parameters of one `Block` with `d_model = d`, as a
# formula (look at `SelfAttention`, `MLP` and the two LayerNorms: weights and biases). The check
# compares it with PyTorch's count for several widths.
#
# 🇪🇸 **Español.** Ejercicio 1: escribe `block_params(d)`, el número de parámetros de un `Block`
# con `d_model = d`, como fórmula. La comprobación lo compara con la cuenta de PyTorch.

# %% tags=["stub"] exercise="block-params"
def block_params(d):
    return exercise_todo("block-params", say("count the weights and biases of qkv, proj, fc, proj and two LayerNorms",
                                             "cuenta los pesos y los sesgos de qkv, proj, fc, proj y las dos LayerNorm"))

# %% tags=["solution"] exercise="block-params"
def block_params(d):
    attention = (d * 3 * d + 3 * d) + (d * d + d)        # qkv and output projection
    mlp = (d * 4 * d + 4 * d) + (4 * d * d + d)          # fc and proj
    layernorms = 2 * (2 * d)                             # gain and bias, twice
    return attention + mlp + layernorms


print("block_params(128) =", block_params(128))

# %% tags=["check"] exercise="block-params"
from utils.text import say

for _d in (8, 64, 128):
    _real = sum(p.numel() for p in Block(GPTConfig(vocab_size=10, d_model=_d, n_head=4)).parameters())
    assert block_params(_d) == _real, say(f"block-params: for d={_d} PyTorch counts {_real}, you {block_params(_d)}",
                                          f"block-params: para d={_d} PyTorch cuenta {_real}, tú {block_params(_d)}")

# %% [markdown]
# ## 3. Why a tiny row gets a large gradient
#
# A LayerNorm computes `(x − mean) / sqrt(var + 1e-5)`. Scaling `x` down scales its output not
# at all, but its gradient up: the same upstream gradient reaching a row of standard deviation
# 5e-4 (an untrained embedding) comes back far larger than for a row of a trained size. The cell
# measures it with the model's own first LayerNorm.
#
# 🇪🇸 **Español.** Una LayerNorm divide por `sqrt(var + 1e-5)`. Reducir `x` no cambia su salida
# pero agranda su gradiente: una fila sin entrenar (desviación 5e-4) recibe un gradiente mucho
# mayor que una fila de tamaño entrenado. La celda lo mide con la primera LayerNorm del modelo.

# %%
gen = torch.Generator().manual_seed(0)
direction = torch.randn(128, generator=gen)
upstream = torch.randn(128, generator=gen)
ln1 = copy.deepcopy(model.blocks[0].ln1)      # a copy: the model itself stays untouched
grad_norm = {}
for std in [5e-4, 5e-3, 5e-2, 0.5]:
    x = (direction / direction.std() * std).requires_grad_()
    (ln1(x) @ upstream).backward()
    grad_norm[std] = x.grad.norm().item()
    print(f"row std {std:7.0e}: gradient norm {grad_norm[std]:8.1f}")
print(f"untrained row (std 5e-4) vs row of std 5e-2: {grad_norm[5e-4] / grad_norm[5e-2]:.0f}× larger gradient")
assert grad_norm[5e-4] > 10 * grad_norm[5e-2] and grad_norm[5e-2] > 5 * grad_norm[0.5]

# %% [markdown]
# ### Question — how far does it grow?
#
# Before you run anything more: what happens to the gradient when the row is ten times smaller
# still, of standard deviation 5e-5? Look at the LayerNorm's formula above, pick an option and
# press **Check** (your answer is recorded in your notes for the grader; the last one counts). The
# cell after the question measures it.
#
# 🇪🇸 **Español.** Antes de ejecutar nada más: ¿qué le pasa al gradiente si la fila es aún diez veces
# menor, de desviación 5e-5? Mira la fórmula de la LayerNorm, elige una opción y pulsa
# **Comprobar** (tu respuesta se guarda en tus notas; cuenta la última). La celda siguiente lo mide.

# %%
from utils.course.choice import Choice

floor_q = Choice("17.02", "layernorm-floor", say(
    "A row of std 5e-5 instead of 5e-4: how large is its gradient?",
    "Una fila de desviación 5e-5 en vez de 5e-4: ¿qué tamaño tiene su gradiente?"), options={
    "a": (say("About the same as for 5e-4: the 1e-5 inside sqrt(var + 1e-5) caps it.",
              "Más o menos el mismo que con 5e-4: el 1e-5 dentro de sqrt(var + 1e-5) lo limita."),
          say("Both variances (2.5e-7 and 2.5e-9) are tiny next to 1e-5, so the denominator is almost the same: "
              "the gradient has reached its cap. An untrained row is already at that cap: large, but bounded.",
              "Las dos varianzas (2,5e-7 y 2,5e-9) son diminutas frente a 1e-5, así que el denominador es casi "
              "el mismo: el gradiente ha llegado a su tope. Una fila sin entrenar ya está en ese tope: grande, "
              "pero acotado.")),
    "b": (say("About ten times larger again: the gradient grows as 1/std.",
              "Otra vez unas diez veces mayor: el gradiente crece como 1/desviación."),
          say("It did grow as 1/std for large rows, but the LayerNorm divides by sqrt(var + 1e-5), not by the "
              "std. Once var is far below 1e-5 (std below about 3e-3) the 1e-5 decides and the factor stops "
              "growing, near 1/sqrt(1e-5) ≈ 316.",
              "Creció como 1/desviación para filas grandes, pero la LayerNorm divide por sqrt(var + 1e-5), no "
              "por la desviación. Cuando var es mucho menor que 1e-5 (desviación bajo unos 3e-3) manda el 1e-5 "
              "y el factor deja de crecer, cerca de 1/sqrt(1e-5) ≈ 316.")),
    "c": (say("Smaller: a row that small hardly affects the output, so it gets little gradient.",
              "Menor: una fila tan pequeña apenas influye en la salida, así que recibe poco gradiente."),
          say("The LayerNorm rescales the row to unit size, so even a tiny row shapes the output fully; the "
              "smaller the row, the more a small change of it changes the output, up to the cap set by 1e-5.",
              "La LayerNorm reescala la fila a tamaño unidad, así que hasta una fila diminuta determina la "
              "salida; cuanto menor la fila, más cambia la salida con un pequeño cambio suyo, hasta el tope "
              "que fija 1e-5.")),
}, right="a")

# %% tags=["stub"] exercise="layernorm-floor"
floor_q   # choose an option and press Check / elige una opción y pulsa Comprobar

# %% tags=["solution"] exercise="layernorm-floor"
floor_q.choose("a")

# %%
x = (direction / direction.std() * 5e-5).requires_grad_()
(ln1(x) @ upstream).backward()
print(f"row std 5e-05: gradient norm {x.grad.norm().item():8.1f}   (5e-4: {grad_norm[5e-4]:.1f})")
assert 0.9 < x.grad.norm().item() / grad_norm[5e-4] < 1.1

# %% [markdown]
# ## 4. Training the healthy run
#
# `TrainingRun.train()` runs 420 steps: batches of 8 sentences, AdamW (Phase 18), learning rate
# warmed up over 100 steps to 3e-3, gradient clipping at norm 1.0, and a held-out evaluation
# every 8 steps. Every step is logged in a `RunLog` (`utils/spikelab/runlog.py`). It takes a few seconds.
#
# 🇪🇸 **Español.** `TrainingRun.train()` ejecuta 420 pasos con batches de 8 frases, AdamW, warmup de 100
# pasos hasta 3e-3, clipping del gradiente a norma 1.0 y una evaluación de validación cada 8 pasos. Cada
# paso queda registrado en un `RunLog`.

# %%
log = run.train()
loss, ema = log.steps["loss"], metrics.ema(log.steps["loss"])
held = dict(zip(log.heldout["step"], log.heldout["loss"]))
print(f"{len(log)} steps; first loss {loss[0]:.2f} (ln of the vocabulary size = {math.log(len(run.tok.vocab)):.2f})")
print(f"loss EMA at step 419: {ema[-1]:.2f};  held-out loss at steps 0, 200, 400: "
      f"{held[0]:.2f}, {held[200]:.2f}, {held[400]:.2f}")
assert abs(loss[0] - math.log(len(run.tok.vocab))) < 0.2      # starts as a uniform guess
assert ema[-1] < ema[100] < ema[0] and held[400] < 1.5
show(say("held-out loss before step 312 **{heldout_loss_before:.2f}** on average; spike found: {spike_found}",
         "pérdida de validación antes del paso 312 **{heldout_loss_before:.2f}** de media; pico encontrado: "
         "`{spike_found}`"),
     symptoms.compute(log))

# %%
fig, ax = plt.subplots(figsize=(8, 3.2), dpi=70)
ax.plot(loss, color="0.75", lw=0.8, label="training loss (per batch)")
ax.plot(ema, color="C0", label="training loss, 50-step EMA")
ax.plot(log.heldout["step"], log.heldout["loss"], "o-", ms=2.5, color="C1", label="held-out loss")
ax.set(xlabel="step", ylabel="loss (nats per token)", ylim=(0.5, 5.8), title="healthy run (seed 42)")
ax.legend(frameon=False)
fig.tight_layout()
plt.show()

# %% [markdown]
# The loss falls from the uniform guess (ln 233 ≈ 5.45) to about 1 nat per token (the 50-step
# EMA, seeded with the first loss, lags behind during the fast first descent), and the
# held-out loss follows it: before step 312 it averages
# <span data-run="healthy" data-key="heldout_loss_before" data-fmt=".2f">1.07–1.23</span> in the runs
# we measured (your run's own value is in the **Your run** line above). The
# sentences are highly predictable once the subject and the verb are chosen; what remains is
# mostly the choice of subject, verb and tense. No spike anywhere (spike found:
# <span data-run="healthy" data-key="spike_found">False</span>): the 5 rare sentences arrive
# shuffled among the others, one at a time. Remember this curve: in Phase 19 the **same**
# model and data, in another order, spike at step 312.
#
# 🇪🇸 **Español.** La pérdida baja desde la adivinanza uniforme (ln 233 ≈ 5.45) hasta cerca de 1 nat por
# token, y la de validación la sigue
# (<span data-run="healthy" data-key="heldout_loss_before" data-fmt=".2f">1.07–1.23</span> de media
# antes del paso 312; el valor de tu ejecución está en la línea **Your run**). Ningún pico: las 5 frases
# raras llegan barajadas entre las demás. En la Fase 19, el **mismo** modelo con los mismos datos en
# otro orden tendrá un pico en el paso 312.

# %% [markdown]
# ## 5. What the model writes
#
# `MiniGPT.generate` samples one piece at a time from the softmax of the logits. Starting from
# the sentence marker `<s>` and stopping at the next `<s>`, it writes a sentence; a seeded
# `torch.Generator` makes the samples reproducible. For each sample the cell says whether the
# sentence is in the training set, is a held-out sentence, is another sentence of the grammar
# grid that the model never saw, or is not a sentence of the grammar at all.
#
# 🇪🇸 **Español.** `MiniGPT.generate` muestrea pieza a pieza. Empezando en `<s>` y parando en el
# siguiente `<s>`, escribe una frase; un `torch.Generator` con semilla hace las muestras
# reproducibles. Para cada frase se indica si está en el entrenamiento, en la validación
# o en la cuadrícula gramatical sin haberla visto nunca, o si no es una frase de la gramática.

# %%
train_set, held_set = set(corpus.base_train()), set(corpus.heldout())
grid = set(corpus._ordinary_pool()) | set(corpus._rare_pool())
gen = torch.Generator().manual_seed(1234)
model.eval()
samples = []
for _ in range(8):
    out = model.generate(torch.tensor([[BOS_ID]]), max_new=30, stop_id=BOS_ID, generator=gen)
    text = run.tok.decode(out[0].tolist())
    where = "train" if text in train_set else "held-out" if text in held_set else \
        "unseen, grammatical" if text in grid else "not a grid sentence"
    samples.append((text, where))
    print(f"{where:20} {text}")
model.train()
assert sum(w != "not a grid sentence" for _, w in samples) >= 5

# %% [markdown]
# Most samples are correct sentences of the grammar, and several were never shown to the
# model: it has learnt the pattern, not just the list. The failures are instructive too: the
# model has no positional embedding and only 420 steps of training, and it sometimes loses
# track of where it is in the sentence.
#
# 🇪🇸 **Español.** La mayoría de las muestras son frases correctas, y varias nunca se le mostraron
# al modelo: ha aprendido el patrón, no solo la lista. Los fallos también enseñan: sin
# embedding posicional y con solo 420 pasos, a veces pierde la cuenta de dónde está.

# %% [markdown]
# ### Exercise 2 — the loss of one batch, by hand
#
# The run log's `loss[0]` is the mean cross-entropy of the very first batch, computed before
# any update. Rebuild the untrained model (a new `TrainingRun` with the same config: same seed,
# so the same initial weights), turn batch 0 (`fresh.batches[0]`, a list of example ids) into
# inputs and targets with `rows_to_tensors`, and compute the loss with `F.cross_entropy`
# (padding targets are `-100`: ignore them). Store it in `my_loss` (a float).
#
# 🇪🇸 **Español.** Ejercicio 2: reconstruye el modelo sin entrenar (un `TrainingRun` nuevo con la misma
# configuración), prepara el batch 0 con `rows_to_tensors` y calcula la pérdida con `F.cross_entropy`
# ignorando los objetivos `-100`. Guárdala en `my_loss`.

# %% tags=["stub"] exercise="loss-by-hand"
my_loss = exercise_todo("loss-by-hand", say("rebuild the untrained model and compute the cross-entropy of batch 0",
                                            "reconstruye el modelo sin entrenar y calcula la entropía cruzada del batch 0"))

# %% tags=["solution"] exercise="loss-by-hand"
fresh = TrainingRun(config_for("healthy"))
x, y = rows_to_tensors([fresh.examples[i].ids for i in fresh.batches[0]])
with torch.no_grad():
    logits = fresh.model(x)
my_loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100).item()
print(f"by hand {my_loss:.5f}   run log {log.steps['loss'][0]:.5f}")

# %% tags=["check"] exercise="loss-by-hand"
from utils.text import say

assert abs(my_loss - log.steps["loss"][0]) < 1e-4, say(
    f"loss-by-hand: {my_loss:.5f} differs from the log's {log.steps['loss'][0]:.5f} (same seed? padding ignored?)",
    f"loss-by-hand: {my_loss:.5f} no coincide con el {log.steps['loss'][0]:.5f} del registro (¿la misma semilla? "
    f"¿ignoras el padding?)")

# %% [markdown]
# ## Your lesson from this notebook
#
# Write the one thing from this notebook that you would do differently next time, in one line,
# and press **Save lesson**. It is appended, dated and tagged with this notebook (`notebook 17.02`), to
# `learners/<you>/phase-17/notes/lessons.md`; the grader looks for one lesson per notebook.
#
# 🇪🇸 **Español.** Escribe en una línea lo que harías distinto la próxima vez tras este cuaderno y pulsa
# **Guardar lección**. Se añade, con la fecha y la etiqueta de este cuaderno (`notebook 17.02`), a
# `learners/<tú>/phase-17/notes/lessons.md`; el corrector busca una lección por cuaderno.

# %% tags=["nbval-ignore-output"]
from utils.course.lesson_box import lesson_box

lesson_box("17.02")
