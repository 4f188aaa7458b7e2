# ---
# jupyter:
#   course:
#     nbval: lax
# ---

# %% [markdown]
# # 20.3 · The same recovery inside PyTorch Lightning
#
# Notebook 20.2 taught a plain PyTorch loop to detect a spike, roll back and quarantine. Many
# projects train with **PyTorch Lightning** instead, where the loop belongs to `Trainer.fit` and
# your code runs only in *hooks*. A widely read answer to "how can Lightning automatically reload
# the last checkpoint on a loss spike?" proposes a callback that spots the spike (fixed
# threshold, moving average or EMA) and then calls `trainer.stop()` and `trainer.fit(model)` from
# inside `on_train_batch_end`. In this notebook we run that recipe as written and watch it fail
# three times (it was written for Lightning 1.x), look at what Lightning's own `SpikeDetection`
# callback does, and then use a callback that really recovers inside one `fit`:
# `utils.recovery.lightning_rollback.RollbackOnSpike`.
#
# 🇪🇸 **Español.** En 20.2 enseñamos a un bucle de PyTorch a detectar un pico, volver atrás y poner
# batches en cuarentena. Muchos proyectos entrenan con **PyTorch Lightning**: el bucle es de
# `Trainer.fit` y nuestro código solo corre en *hooks*. Una respuesta muy leída propone un callback que
# detecta el pico y llama a `trainer.stop()` y `trainer.fit(model)` desde `on_train_batch_end`. Aquí
# ejecutamos esa receta tal cual y la vemos fallar tres veces (se escribió para Lightning 1.x), miramos
# qué hace el callback `SpikeDetection` de Lightning y usamos uno que sí se recupera dentro de un solo
# `fit`.

# %%
import json
import logging
import tempfile
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytorch_lightning as pl
import torch
from IPython.core.pylabtools import print_figure
from IPython.display import Image
from lightning_fabric.utilities.spike import TrainingSpikeException
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.callbacks.spike import SpikeDetection

from utils.spikelab import symptoms
from utils.spikelab.config import config_for
from utils.recovery.detectors import EMADetector
from utils.course.exercises import exercise_todo
from utils.text import say
from utils.recovery.lightning_module import MiniGPTModule, TinyRegressor, mini_gpt_trainer_kwargs, ood_regression_data, tiny_loader
from utils.recovery.lightning_rollback import RollbackOnSpike
from utils.spikelab.train import run_variant
from utils.course.yours import show as show_yours

# Lightning reports a lot (tips, progress, warnings about tiny dataloaders): keep the outputs quiet
logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
logging.getLogger("lightning_fabric").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)
print("pytorch_lightning", pl.__version__)


def make_trainer(max_steps, callbacks=(), **kwargs):
    """A quiet CPU trainer: no logger, no progress bar, no model summary, no default checkpoints
    (kwargs may turn any of them back on, e.g. enable_checkpointing=True)."""
    quiet = dict(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                 enable_model_summary=False, enable_checkpointing=False)
    return pl.Trainer(max_steps=max_steps, callbacks=list(callbacks), **{**quiet, **kwargs})


def show(fig, dpi=70):
    image = Image(print_figure(fig, "png", dpi=dpi))
    plt.close(fig)
    return image

# %% [markdown]
# ## 1. A small engineered spike
#
# To see every detail we first use a tiny model: an MLP learns a fixed random function of 8
# inputs, 40 batches of 16 examples per epoch, in a fixed order. One batch is
# **out of distribution**: its 16 examples were recorded in the wrong unit, every input
# multiplied by 30 (the targets are the true ones). It sits at position 30 of the epoch, so it
# comes at global steps 30, 70 and 110. Nothing edits a loss: the spike is what the model
# makes of those inputs. Each example carries its **dataset index** (0 to 639); that is the
# global id we will quarantine by.
#
# 🇪🇸 **Español.** Primero un modelo diminuto: un MLP aprende una función aleatoria fija de 8 entradas,
# 40 batches de 16 ejemplos por época, en orden fijo. Un batch está **fuera de distribución**: sus
# entradas vienen en otra unidad (×30). Está en la posición 30 de cada época (pasos 30, 70 y 110). Nadie
# toca la pérdida. Cada ejemplo lleva su **índice en el conjunto de datos**: ese es el identificador
# global para la cuarentena.

# %%
data = ood_regression_data()
x, y, ids = data.tensors
SPIKE, BATCH = 30, 16
ood_ids = ids[SPIKE * BATCH:(SPIKE + 1) * BATCH].tolist()
print(f"{len(data)} examples; OOD batch = dataset indices {ood_ids[0]}..{ood_ids[-1]}")
print(f"mean |x|: ordinary {x[:SPIKE * BATCH].abs().mean():.2f}, OOD batch {x[ood_ids].abs().mean():.2f}")

control = TinyRegressor()                        # no recovery at all
make_trainer(120).fit(control, tiny_loader(data))
loss = dict(control.losses)
pre = sum(loss[s] for s in range(20, 30)) / 10
print(f"control run: mean loss of steps 20-29 {pre:.3f}, step 30 {loss[30]:.0f}, "
      f"mean of steps 41-60 {sum(loss[s] for s in range(41, 61)) / 20:.3f}")
assert loss[30] > 100 * pre

# %% [markdown]
# ## 2. The recipe, run as written
#
# Here is the recipe as the answer gives it, written for Lightning 1.x: the hook takes a
# `dataloader_idx` argument, the trainer is built with `Trainer(..., checkpoint_callback=True)`, and
# a spike calls `trainer.stop()` and then `trainer.fit(model)`. Only the detection rule is reduced
# to the simplest of its three variants, a fixed threshold (the rule does not matter here). We run
# it on the installed Lightning 2 and meet its breakages in the order a learner meets them: each
# failing cell catches the error, prints it, and the next cell applies the fix that leads to the
# next failure.
#
# 🇪🇸 **Español.** Esta es la receta tal como la da la respuesta, escrita para Lightning 1.x: el hook
# recibe un argumento `dataloader_idx`, el entrenador se crea con `Trainer(...,
# checkpoint_callback=True)` y, ante un pico, llama a `trainer.stop()` y luego a
# `trainer.fit(model)`. Solo la regla de detección se reduce a la más simple de sus tres variantes,
# un umbral fijo (aquí da igual). La ejecutamos con el Lightning 2 instalado y encontramos sus
# roturas en el orden en que las encuentra quien la prueba: cada celda que falla captura el error y
# lo imprime, y la siguiente aplica el arreglo que lleva al siguiente fallo.

# %%
class ReloadOnSpike(Callback):
    """The popular recipe, as written (do not use): on a spike, stop and fit again from the hook."""

    def __init__(self, threshold):
        self.threshold = threshold

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx):
        loss = outputs["loss"].item()
        if loss > self.threshold:
            trainer.stop()
            trainer.fit(pl_module)


class TinyWithLoader(TinyRegressor):
    """The recipe calls trainer.fit(model), so the model must bring its own dataloader."""

    def train_dataloader(self):
        return tiny_loader(data)


def first_line(error):
    """The exception's type and the first line of its message: what a learner reads first."""
    return f"{type(error).__name__}: {str(error).splitlines()[0]}"

# %% [markdown]
# ### Breakage 1: `Trainer(checkpoint_callback=True)`
#
# The first line that runs is the trainer's construction, and it fails before any training:
# Lightning 2's `Trainer` has no `checkpoint_callback` argument. Lightning 1.5 renamed that switch
# to `enable_checkpointing` and 1.7 removed the old name. **Fix:** `enable_checkpointing=True`
# (it is the default in Lightning 2: a `ModelCheckpoint` callback is added for you).
#
# 🇪🇸 **Español.** Lo primero que se ejecuta es la construcción del entrenador, y falla antes de
# entrenar nada: el `Trainer` de Lightning 2 no tiene el argumento `checkpoint_callback`. Lightning
# 1.5 lo renombró a `enable_checkpointing` y 1.7 eliminó el nombre antiguo. **Arreglo:**
# `enable_checkpointing=True` (en Lightning 2 es el valor por defecto: añade un `ModelCheckpoint`).

# %% tags=["nbval-check-output"]
try:
    pl.Trainer(max_steps=120, callbacks=[ReloadOnSpike(threshold=100.0)], checkpoint_callback=True)
except TypeError as error:
    print(first_line(error))
else:
    raise AssertionError("Trainer(checkpoint_callback=True) was expected to fail")

# %% [markdown]
# ### Breakage 2: the hook's `dataloader_idx` argument
#
# With the trainer fixed, `fit` starts, and fails at the end of the **first** batch, spike or no
# spike. Lightning 2 calls `on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)`: five
# arguments, because a training loop reads one (combined) dataloader. The argument was deprecated in
# Lightning 1.5 and removed in 1.7. Nothing checks a callback's signature when `fit` starts: it is a
# plain Python `TypeError` at the first call, after the first batch's update was applied, and
# Lightning marks the trainer *interrupted* and re-raises it. **Fix:** drop `dataloader_idx` from
# the signature.
#
# 🇪🇸 **Español.** Con el entrenador arreglado, `fit` arranca y falla al terminar el **primer** batch,
# haya pico o no. Lightning 2 llama a `on_train_batch_end(trainer, pl_module, outputs, batch,
# batch_idx)`: cinco argumentos. `dataloader_idx` quedó obsoleto en Lightning 1.5 y se eliminó en 1.7.
# Nadie comprueba la firma del callback al empezar `fit`: es un `TypeError` de Python en la primera
# llamada, después de la actualización del primer batch, y Lightning marca el entrenador como
# *interrumpido*. **Arreglo:** quitar `dataloader_idx` de la firma.

# %% tags=["nbval-check-output"]
with tempfile.TemporaryDirectory() as folder:     # enable_checkpointing=True writes checkpoints
    recipe_trainer = make_trainer(120, [ReloadOnSpike(threshold=100.0)], enable_checkpointing=True,
                                  default_root_dir=folder)
    try:
        recipe_trainer.fit(TinyWithLoader())
    except TypeError as error:
        message = first_line(error)
        print(message)
    else:
        raise AssertionError("the hook with dataloader_idx was expected to fail")
print("trainer status:", recipe_trainer.state.status.value, "| global_step:", recipe_trainer.global_step)
assert "dataloader_idx" in message and recipe_trainer.global_step == 1

# %% [markdown]
# ### Breakage 3: `trainer.stop()`
#
# With both fixes, the run trains until the OOD batch, and the spike reaches the recipe's
# `trainer.stop()`.
#
# 🇪🇸 **Español.** Con los dos arreglos, el entrenamiento llega al batch fuera de distribución y el pico
# llega al `trainer.stop()` de la receta.

# %% tags=["nbval-check-output"]
class ReloadOnSpikeLightning2(ReloadOnSpike):
    """Fix 2: the hook without dataloader_idx; the recipe's body runs unchanged."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0)


with tempfile.TemporaryDirectory() as folder:
    recipe_trainer = make_trainer(120, [ReloadOnSpikeLightning2(threshold=100.0)],
                                  enable_checkpointing=True, default_root_dir=folder)   # fix 1
    try:
        recipe_trainer.fit(TinyWithLoader())
    except AttributeError as error:
        print(first_line(error))
    else:
        raise AssertionError("the recipe was expected to fail at trainer.stop()")
print("Trainer has a stop() method:", hasattr(pl.Trainer, "stop"))
print("trainer status:", recipe_trainer.state.status.value, "| global_step:", recipe_trainer.global_step)
assert not hasattr(pl.Trainer, "stop") and recipe_trainer.global_step == SPIKE + 1

# %% [markdown]
# `Trainer` has no `stop()` method in Lightning 2.6, so the first spike ends the run with an
# `AttributeError`; Lightning marks the trainer *interrupted* and re-raises. Note `global_step`
# = 31: `on_train_batch_end` runs **after** `optimizer.step()`, so the OOD batch had already
# moved the weights when the callback looked at its loss. **Fix:** the way to ask Lightning to
# stop is the flag `trainer.should_stop = True`. The loop reads it when the current batch is
# finished and ends the fit cleanly; the cell below shows it. That is a stop, not a recovery: the
# spike's update stays in the weights.
#
# 🇪🇸 **Español.** `Trainer` no tiene `stop()`: el primer pico termina con `AttributeError`. Además
# `global_step` = 31: `on_train_batch_end` corre **después** de `optimizer.step()`, así que el batch
# malo ya había movido los pesos. **Arreglo:** la forma de pedir a Lightning que pare es la bandera
# `trainer.should_stop = True`; el bucle la lee al terminar el batch y acaba el `fit` limpiamente (celda
# siguiente). Eso es parar, no recuperarse: la actualización del pico sigue en los pesos.

# %% tags=["nbval-check-output"]
class StopOnSpike(Callback):
    """Fix 3, alone: ask Lightning to stop after this batch."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if outputs["loss"].item() > 100.0:
            trainer.should_stop = True


stop_trainer = make_trainer(120, [StopOnSpike()])
stop_trainer.fit(TinyWithLoader())
print("trainer status:", stop_trainer.state.status.value, "| global_step:", stop_trainer.global_step)
assert stop_trainer.state.status.value == "finished" and stop_trainer.global_step == SPIKE + 1

# %% [markdown]
# What about the recipe's second line, the nested `trainer.fit(model)` that was meant to start
# again? The cell below keeps only that line and records what the nested `fit` did.
#
# 🇪🇸 **Español.** ¿Y la segunda línea de la receta, el `trainer.fit(model)` anidado que debía volver a
# empezar? La celda siguiente deja solo esa línea y anota lo que hizo el `fit` anidado.

# %%
class RefitOnSpike(Callback):
    """The recipe without stop(): a fit inside the running fit (once)."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if outputs["loss"].item() <= 100.0:
            return
        if hasattr(self, "outer_optimizer"):        # the OOD batch, met again inside the nested fit
            self.spikes_inside.append(trainer.global_step - 1)
            return
        self.outer_optimizer, self.spikes_inside = trainer.optimizers[0], []
        self.started_at = trainer.global_step
        trainer.fit(pl_module)
        self.inner_optimizer = trainer.optimizers[0]
        self.inner_end = trainer.global_step


refit = RefitOnSpike()
refit_trainer = make_trainer(120, [refit])
try:
    refit_trainer.fit(TinyWithLoader())
except AssertionError:
    print("the OUTER fit then failed with an AssertionError inside Lightning's loop")
inner_steps = int(next(iter(refit.inner_optimizer.state.values()))["step"])
print(f"nested fit started at global_step {refit.started_at}, ran to {refit.inner_end}")
print("nested fit built a new optimizer:", refit.inner_optimizer is not refit.outer_optimizer,
      f"| its AdamW step count: {inner_steps} (the {refit.started_at} steps of moments before are gone)")
print("the nested fit trained on the OOD batch again at step(s):", refit.spikes_inside)
assert refit.inner_optimizer is not refit.outer_optimizer and inner_steps == 120 - refit.started_at
assert refit.spikes_inside and refit.inner_end == 120

# %% [markdown]
# The nested `fit` restores nothing: no checkpoint path was given, so it goes on from the
# damaged weights, calls `configure_optimizers` again (a fresh AdamW: the moments of 31 steps are
# thrown away), keeps counting from `global_step` 31 and, starting a new epoch, trains on the
# OOD batch again. When it returns, the outer loop resumes in a state it does not expect and
# Lightning's own loop fails with an `AssertionError`. (Passing `ckpt_path=` to the nested `fit`
# does load a checkpoint, but the outer loop fails the same way afterwards.) A hook cannot start
# training over; it can only change the state the running loop works on.
#
# 🇪🇸 **Español.** El `fit` anidado no restaura nada: sigue desde los pesos dañados, crea un AdamW nuevo
# (se pierden los momentos), sigue contando desde el paso 31 y vuelve a entrenar el batch malo. Al
# volver, el bucle externo falla con un `AssertionError`. Un hook no puede reiniciar el entrenamiento;
# solo puede cambiar el estado sobre el que trabaja el bucle en curso.

# %% [markdown]
# ## 3. Lightning's own `SpikeDetection`
#
# Lightning ships `pytorch_lightning.callbacks.spike.SpikeDetection`: a running mean over
# `window` losses, a relative tolerance `rtol` (a spike is a loss more than `rtol` × the mean
# above it), checked in `on_train_batch_end`. On a spike it writes the batch indices
# `[batch_idx - 1, batch_idx]` to `skip_batches.json` and raises `TrainingSpikeException`.
#
# 🇪🇸 **Español.** Lightning trae `SpikeDetection`: media móvil de `window` pérdidas y tolerancia
# relativa `rtol`, comprobadas en `on_train_batch_end`. Ante un pico escribe
# `[batch_idx - 1, batch_idx]` en `skip_batches.json` y lanza `TrainingSpikeException`.

# %%
class WeightsMoved(Callback):
    """Did the weights change between the start and the end of each batch?"""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.before = [p.detach().clone() for p in pl_module.parameters()]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.moved = any(not torch.equal(a, p) for a, p in zip(self.before, pl_module.parameters()))


moved = WeightsMoved()
lightning_spike = SpikeDetection(window=10, warmup=20)
with tempfile.TemporaryDirectory() as folder:
    trainer = make_trainer(120, [moved, lightning_spike], default_root_dir=folder)
    try:
        trainer.fit(TinyRegressor(), tiny_loader(data))
    except TrainingSpikeException as error:
        print("raised:", error)
    skip_file = json.loads((Path(folder) / "skip_batches.json").read_text())
print("global_step:", trainer.global_step, "| the spiking batch moved the weights:", moved.moved)
print("skip_batches.json:", skip_file, "(batch_idx, restarts at 0 every epoch)")
state = lightning_spike.state_dict()
print("saved running window:", dict(state["running"]), dict(state["mean"]))
try:
    SpikeDetection().load_state_dict(state)
except AttributeError as error:
    print("load_state_dict:", type(error).__name__, error)
assert moved.moved and skip_file == [SPIKE - 1, SPIKE] and not state["running"]

# %% [markdown]
# So `SpikeDetection` is a tripwire, not a recovery:
#
# - it detects **after** the update (the weights already moved) and then stops the run;
# - the file names *per-epoch* `batch_idx` values: 30 is a different batch in every epoch and,
#   after a mid-epoch resume of a plain dataloader, Lightning restarts the data from its first
#   batch while `batch_idx` goes on counting, so 30 does not even name the same data. Nothing in
#   Lightning reads the file back: skipping those batches is left to you;
# - its `state_dict` saves no running window (the torchmetrics states are not persistent), and
#   its `load_state_dict` refers to `self.running`, which does not exist: resuming a fit from a
#   checkpoint that holds this callback's state fails with that `AttributeError`.
#
# 🇪🇸 **Español.** `SpikeDetection` es una alarma, no una recuperación: detecta **después** de la
# actualización y para; el fichero guarda `batch_idx` por época (ambiguo); su `state_dict` no
# guarda la ventana y su `load_state_dict` usa `self.running`, que no existe: reanudar desde un
# checkpoint con su estado falla.

# %% [markdown]
# ## 4. Where a callback can act
#
# With automatic optimization, one training step of Lightning 2.6 runs these hooks, in this
# order (the cell prints them for the second step, with `global_step`, the LR the optimizer
# holds at that moment and whether the weights have moved since the batch started):
#
# 🇪🇸 **Español.** Con optimización automática, un paso de Lightning 2.6 ejecuta estos hooks en este
# orden (la celda los imprime para el segundo paso, con `global_step`, el LR del optimizador y si los
# pesos ya se movieron):

# %%
class HookOrder(Callback):
    def __init__(self):
        self.lines = []

    def _log(self, hook, trainer, pl_module):
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        moved = not torch.equal(self.start, pl_module.net[0].weight)
        self.lines.append(f"{hook:26} global_step={trainer.global_step}  lr={lr:.6f}  "
                          f"weights moved: {'yes' if moved else 'no'}")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.start = pl_module.net[0].weight.detach().clone()
        self._log("on_train_batch_start", trainer, pl_module)

    def on_after_backward(self, trainer, pl_module):
        self._log("on_after_backward", trainer, pl_module)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self._log("on_before_optimizer_step", trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._log("on_train_batch_end", trainer, pl_module)


hooks = HookOrder()
make_trainer(2, [hooks]).fit(TinyRegressor(), tiny_loader(data))
print("\n".join(hooks.lines[4:]))              # the second step
assert [line.split()[0] for line in hooks.lines[4:]] == [
    "on_train_batch_start", "on_after_backward", "on_before_optimizer_step", "on_train_batch_end"]
assert "moved: no" in hooks.lines[6] and "moved: yes" in hooks.lines[7]

# %% [markdown]
# `on_before_optimizer_step` is the last moment before the update: the loss is known, the
# gradients are there (before Lightning's gradient clipping, which runs right after this hook),
# and nothing has moved yet. By `on_train_batch_end` the optimizer **and** the LR scheduler have
# stepped (`global_step` and the LR already changed). `RollbackOnSpike` uses both:
#
# - `on_train_batch_start`: read the batch's global ids; a quarantined batch is marked *skip*;
# - `on_before_optimizer_step`: judge the loss (the module stashes it as `last_train_loss`) and
#   the gradient norm. On a detection or a skip, set every gradient to `None`: `optimizer.step()`
#   then skips every parameter, so the bad update never happens and AdamW's moments are untouched;
# - `on_train_batch_end`: roll back (model, optimizer, LR scheduler and detector states from the
#   last good checkpoint) or, after a normal step, save a checkpoint every K steps. A skipped step
#   also puts the LR schedule back, so the schedule counts updates, not batches.
#
# Why drop gradients instead of returning `None` from `training_step` (Lightning's own way to skip
# a batch)? Because the callback then needs nothing from the module to skip, and the spike itself
# is only known *after* `training_step` returned its loss. The price: the skipped batch still goes
# through forward and backward (wasted compute; a BatchNorm layer would update its running
# statistics), and returning `None` would advance the LR schedule anyway.
#
# 🇪🇸 **Español.** `on_before_optimizer_step` es el último momento antes de la actualización: hay pérdida
# y gradientes, y nada se ha movido. En `on_train_batch_end` ya avanzaron el optimizador y el scheduler
# del LR. `RollbackOnSpike` juzga la pérdida antes del paso; si detecta un pico o el batch está en
# cuarentena, pone los gradientes a `None` (el paso no mueve nada) y en `on_train_batch_end` restaura
# modelo, optimizador, scheduler y detector.

# %% [markdown]
# ## 5. `RollbackOnSpike` on the small example
#
# An EMA detector (loss > 3 × its EMA; this tiny regression is noisier than the mini-GPT, so the
# threshold is higher than the course's 1.5), a checkpoint in memory every 8 steps:
#
# 🇪🇸 **Español.** Un detector EMA (pérdida > 3 × su EMA), un checkpoint en memoria cada 8 pasos:

# %%
rollback = RollbackOnSpike(EMADetector(rel_threshold=3.0), every_n_steps=8)
recovered = TinyRegressor()
tiny_trainer = make_trainer(120, [rollback])
tiny_trainer.fit(recovered, tiny_loader(data))
for event in rollback.events:
    if event["action"] != "checkpoint":
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in event.items()
                 if k not in ("ids", "quarantined_ids", "quarantined")}
        print(shown)
print("quarantine:", min(rollback.quarantine), "..", max(rollback.quarantine),
      f"({len(rollback.quarantine)} examples)")
print("finished:", tiny_trainer.state.finished, "| global_step:", tiny_trainer.global_step)
rec = dict(recovered.losses)
after = sum(rec[s] for s in range(41, 61)) / 20
print(f"mean loss of steps 41-60: control {sum(loss[s] for s in range(41, 61)) / 20:.3f}, "
      f"with rollback {after:.3f}")
first = next(e for e in rollback.events if e["action"] == "rollback")
assert first["step"] == SPIKE and not first["update_applied"] and first["restored_step"] == 24
assert rollback.quarantine == set(ood_ids) and tiny_trainer.global_step == 120
assert [e["step"] for e in rollback.events if e["action"] == "skip"] == [70, 110]
assert after < sum(loss[s] for s in range(41, 61)) / 20

# %% [markdown]
# The detection happens at step 30 in `on_before_optimizer_step` (`update_applied: False`); the
# last checkpoint, taken when step 24 began, comes back (the updates of steps 24-29 are discarded:
# a rollback in Lightning goes *forward*, see section 7); the OOD batch's dataset indices are
# quarantined, and when they come back at steps 70 and 110 their batches are skipped.
#
# 🇪🇸 **Español.** La detección ocurre en el paso 30, antes de la actualización; vuelve el estado del
# paso 24; los 16 índices quedan en cuarentena y sus batches se saltan en los pasos 70 y 110.

# %%
fig, ax = plt.subplots(figsize=(8, 3))
steps = sorted(loss)
ax.plot(steps, [loss[s] for s in steps], color="tab:red", lw=1, label="no recovery")
ax.plot(steps, [rec[s] for s in steps], color="tab:blue", lw=1, label="RollbackOnSpike")
for event in rollback.events:
    if event["action"] in ("rollback", "skip"):
        ax.axvline(event["step"], color="k" if event["action"] == "rollback" else "0.6", ls="--", lw=0.8)
ax.set(yscale="log", xlabel="global step", ylabel="training loss (batch)",
       title="dashed: rollback (black), skipped batch (grey)")
ax.legend(fontsize=8)
show(fig)

# %% [markdown]
# ## 6. The §A13 run inside `Trainer.fit`
#
# `utils.recovery.lightning_module.MiniGPTModule` wraps the course's run: the model, AdamW, the data order
# and the held-out set come from `TrainingRun`, the LR schedule is the course's, and the gradient
# clip is the plain loop's. It is the same run: the next cell checks that the Lightning losses of
# `broken` equal the plain loop's, bit for bit. In the plain run the late shard arrives at step
# <span data-run="broken" data-key="spike_step">312</span>, the loss jumps to
# <span data-run="broken" data-key="loss_ratio" data-fmt=".1f">3.6–6.6</span>× its EMA, and the
# held-out loss climbs from <span data-run="broken" data-key="heldout_loss_before" data-fmt=".2f">1.09–1.21</span>
# to <span data-run="broken" data-key="heldout_loss_peak" data-fmt=".2f">1.31–2.59</span> at step
# <span data-run="broken" data-key="heldout_peak_step">328</span> (the ranges of the runs we
# measured; your run's numbers are printed by the next cell).
#
# 🇪🇸 **Español.** `MiniGPTModule` envuelve la ejecución del curso (modelo, AdamW, orden de datos, LR y
# clipping del bucle simple). Es la misma ejecución: la celda comprueba que las pérdidas de Lightning
# son idénticas bit a bit a las del bucle simple, e imprime los números de tu ejecución.

# %%
cfg = config_for("broken")
plain_log = run_variant("broken")
baseline = MiniGPTModule(cfg)
pl.Trainer(**mini_gpt_trainer_kwargs(cfg)).fit(baseline)
assert [l for _, l in baseline.losses] == plain_log.steps["loss"]
base_heldout = dict(baseline.heldout)
peak_step = max((s for s in base_heldout if s >= 312), key=base_heldout.get)
print(f"Lightning = plain loop for all {len(baseline.losses)} steps; held-out loss "
      f"{base_heldout[304]:.3f} at step 304, peak {base_heldout[peak_step]:.3f} at step {peak_step}")
show_yours(say("spike at step {spike_step}, loss **{loss_ratio:.1f}×** its EMA; held-out loss "
               "**{heldout_loss_before:.2f}** → **{heldout_loss_peak:.2f}** at step {heldout_peak_step}",
               "pico en el paso {spike_step}, pérdida **{loss_ratio:.1f}×** su EMA; pérdida de validación "
               "**{heldout_loss_before:.2f}** → **{heldout_loss_peak:.2f}** en el paso {heldout_peak_step}"),
           symptoms.compute(plain_log))

# %% [markdown]
# Now with `RollbackOnSpike`, set up with the calibration's detector of 20.1: an EMA detector at
# 1.5 × the ~50-step EMA (the plain loop of 20.2 settled on 2× for rolling back; below you see
# what 1.5× can cost), a checkpoint in memory every 25 steps. Each batch carries the ids of its
# sentences (`ids="examples"`), so the quarantine holds **sentences** and follows them wherever
# the data order puts them later. One `fit`, no restart (it takes a few seconds):
#
# 🇪🇸 **Español.** Ahora con `RollbackOnSpike` y el detector calibrado en 20.1: EMA a 1.5× (el bucle de
# 20.2 usa 2× para volver atrás; abajo se ve lo que puede costar 1.5×), checkpoint cada 25 pasos. Cada
# batch lleva los ids de sus frases: la cuarentena guarda **frases**.

# %%
gpt = MiniGPTModule(cfg, ids="examples")
gpt_rollback = RollbackOnSpike(EMADetector(rel_threshold=1.5), every_n_steps=25, max_rollbacks=10)
gpt_trainer = pl.Trainer(callbacks=[gpt_rollback], **mini_gpt_trainer_kwargs(cfg))
gpt_trainer.fit(gpt)
rare_ids = {e.id for e in gpt.run.examples if e.rare}
print(f"{'step':>5} {'loss':>6} {'EMA':>6} {'ratio':>6} {'restored':>9} {'discarded':>10} {'rare in batch':>14}")
gpt_rollbacks = [e for e in gpt_rollback.events if e["action"] == "rollback"]
for e in gpt_rollbacks:
    print(f"{e['step']:5d} {e['loss']:6.2f} {e['reference']:6.2f} {e['score']:6.2f} "
          f"{e['restored_step']:9d} {e['updates_discarded']:10d} "
          f"{len(set(e['quarantined']) & rare_ids):>8} of {len(e['quarantined'])}")
actions = [e["action"] for e in gpt_rollback.events]
gpt_heldout = dict(gpt.heldout)
worst = max((s for s in gpt_heldout if s >= 312), key=gpt_heldout.get)
print(f"rollbacks {actions.count('rollback')}, skipped batches {actions.count('skip')}, "
      f"quarantined sentences {len(gpt_rollback.quarantine)}")
print(f"held-out loss after step 312: worst {gpt_heldout[worst]:.3f} at step {worst} "
      f"(no recovery: {base_heldout[peak_step]:.3f}); finished: {gpt_trainer.state.finished}")
n_later = sum(e["step"] >= 327 for e in gpt_rollbacks)
show_yours(say("first rollback at step {step}, back to step {restored}; {n} rollbacks, **{later}** of them after the "
               "shard; held-out loss after step 312 at worst **{worst:.3f}** (no recovery: **{none:.3f}**; "
               "step 304: {before:.3f})",
               "primer rollback en el paso {step}, de vuelta al paso {restored}; {n} rollbacks, **{later}** de ellos "
               "después del shard; pérdida de validación tras el paso 312, en el peor caso **{worst:.3f}** (sin "
               "recuperación: **{none:.3f}**; paso 304: {before:.3f})"),
           {"step": gpt_rollbacks[0]["step"], "restored": gpt_rollbacks[0]["restored_step"],
            "n": len(gpt_rollbacks), "later": n_later, "worst": gpt_heldout[worst],
            "none": base_heldout[peak_step], "before": base_heldout[304]})
first_gpt = gpt_rollbacks[0]
assert 312 <= first_gpt["step"] < 327                                  # a shard batch (steps 312-326)
assert first_gpt["step"] - 25 < first_gpt["restored_step"] <= first_gpt["step"]   # the last checkpoint
assert not gpt_rollbacks[0]["update_applied"]
assert all(set(e["quarantined"]) <= rare_ids for e in gpt_rollbacks if e["step"] < 327)   # the shard
assert all(0 < len(set(e["quarantined"]) & rare_ids) < len(e["quarantined"])             # mixed batches
           for e in gpt_rollbacks if e["step"] >= 327)
assert gpt_trainer.state.finished and gpt_trainer.global_step == cfg.steps
# the held-out loss may still rise a little, but by a small fraction of the rise without recovery
assert gpt_heldout[worst] - base_heldout[304] < (base_heldout[peak_step] - base_heldout[304]) / 4

# %% [markdown]
# The first rollback comes as the shard arrives (its step is in the table's first row; the
# calibration's EMA detector of 20.1 first fires on the plain `broken` run at step
# <span data-run="calibration" data-key="broken_ema_first_fire">312</span>), detected before the
# update, back to the last checkpoint before it. The shard's batches that follow hold
# quarantined sentences and are skipped; a batch made only of not-yet-quarantined rare sentences
# fires again. The held-out loss stays close to its level before the shard: it may rise a little,
# but the forgetting of the broken run does not happen. Read the cost in the table as well: a
# later rollback (how many there are varies from run to run; your run's count is in the line
# above) fires on an ordinary shuffled batch that carries a rare sentence the model was never
# allowed to learn, and it quarantines the whole batch, innocent sentences included; every batch
# that carries a quarantined sentence is then skipped.
#
# 🇪🇸 **Español.** El primer rollback llega con el shard (primera fila de la tabla), antes de la
# actualización, al último checkpoint anterior. La pérdida de validación se queda cerca de su nivel
# previo: puede subir un poco, pero el olvido no ocurre. Pero mira el coste: un rollback posterior
# (cuántos hay varía de una ejecución a otra) salta en un batch normal con alguna frase rara que el
# modelo nunca pudo aprender, y pone en cuarentena el batch entero, con frases inocentes.

# %%
FROM = 250                                       # the window around the shard
dropped = {e["step"] for e in gpt_rollback.events if e["action"] in ("rollback", "skip")}
fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.5), sharex=True)
top.plot([s for s, _ in baseline.losses if s >= FROM], [l for s, l in baseline.losses if s >= FROM],
         color="tab:red", lw=0.8, label="no recovery")
top.plot([s for s, _ in gpt.losses if s >= FROM and s not in dropped],
         [l for s, l in gpt.losses if s >= FROM and s not in dropped],
         color="tab:blue", lw=0.8, label="RollbackOnSpike: batches trained")
top.plot([s for s, _ in gpt.losses if s in dropped], [l for s, l in gpt.losses if s in dropped],
         ".", color="0.5", ms=3, label="batches not trained (rolled back or skipped)")
for heldout, color in ((base_heldout, "tab:red"), (gpt_heldout, "tab:blue")):
    steps = [s for s in sorted(heldout) if s >= FROM]
    bottom.plot(steps, [heldout[s] for s in steps], color=color)
for e in gpt_rollback.events:
    if e["action"] == "rollback":
        for ax in (top, bottom):
            ax.axvline(e["step"], color="k", ls="--", lw=0.7)
top.set(ylabel="training loss", title="broken run in Trainer.fit; dashed: rollbacks")
top.legend(fontsize=7)
bottom.set(xlabel="global step", ylabel="held-out loss")
show(fig)

# %% [markdown]
# ## 7. What the callback keeps, and what it does not
#
# - **ModelCheckpoint** stays correct: Lightning moves `ModelCheckpoint` to the end of the
#   callback list, so in `on_train_batch_end` it runs after the rollback and writes the restored
#   weights. The tests train a comparison run on exactly the batches the rolled-back run applied
#   and find the checkpoint files equal to it, weights and AdamW moments bit for bit.
# - **Resuming** keeps detector, quarantine and event list: they are the callback's
#   `state_dict`, which Lightning stores in every checkpoint.
# - **No replay**: Lightning owns the dataloader iterator, so a rollback cannot rewind the data.
#   The batches between the checkpoint and the spike are dropped from the restored lineage
#   (`updates_discarded`), and `global_step` keeps counting batches seen. The plain loop of 20.2
#   can replay them; here the next checkpoint interval bounds the loss (K = 25 steps at most).
# - One process, one batch per optimizer step (`accumulate_grad_batches=1`), 32-bit precision:
#   that is what the tests cover.
#
# 🇪🇸 **Español.** `ModelCheckpoint` sigue siendo correcto (corre después del rollback y guarda los pesos
# restaurados); al reanudar se conservan detector, cuarentena y eventos; no hay replay de batches: los
# batches entre el checkpoint y el pico se pierden (como mucho K pasos).

# %% [markdown]
# ## Exercise · drop the update before it happens
#
# Complete `on_before_optimizer_step` of the skeleton below: feed `pl_module.last_train_loss` to
# `self.detector` (use `self.step` as the step) and, on a detection, drop the update by setting
# every gradient to `None` (`optimizer.zero_grad(set_to_none=True)`) and append the step to
# `self.dropped`. The next cell trains the small example with it for 60 steps.
#
# 🇪🇸 **Español.** Completa `on_before_optimizer_step`: pasa `pl_module.last_train_loss` al detector
# y, si detecta un pico, anula la actualización (gradientes a `None`) y apunta el paso en
# `self.dropped`.

# %%
class DropSpikyUpdates(Callback):
    """A skeleton: judge the loss before the update and drop the update of a spike."""

    def __init__(self):
        self.detector = EMADetector(rel_threshold=3.0)
        self.dropped = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.step = trainer.global_step

# %% tags=["solution"] exercise="drop-before-update"
def on_before_optimizer_step(self, trainer, pl_module, optimizer):
    detection = self.detector.update(float(pl_module.last_train_loss), self.step)
    if detection is not None:
        optimizer.zero_grad(set_to_none=True)
        self.dropped.append(self.step)


DropSpikyUpdates.on_before_optimizer_step = on_before_optimizer_step

# %% tags=["stub"] exercise="drop-before-update"
def on_before_optimizer_step(self, trainer, pl_module, optimizer):
    exercise_todo("drop-before-update", say("judge pl_module.last_train_loss with self.detector and, "
                                            "on a detection, set the gradients to None and record the step",
                                            "juzga pl_module.last_train_loss con self.detector y, si detecta, "
                                            "pon los gradientes a None y anota el paso"))


DropSpikyUpdates.on_before_optimizer_step = on_before_optimizer_step

# %% tags=["check"] exercise="drop-before-update"
from utils.text import say

_dropper, _watch = DropSpikyUpdates(), WeightsMoved()
make_trainer(SPIKE + 1, [_dropper, _watch]).fit(TinyRegressor(), tiny_loader(data))
assert _dropper.dropped == [SPIKE], say(f"drop-before-update: expected a drop at step 30 only, got {_dropper.dropped}",
                                        f"drop-before-update: se esperaba descartar solo el paso 30, se descartó "
                                        f"{_dropper.dropped}")
assert not _watch.moved, say("drop-before-update: the weights still moved at step 30 - were the gradients set to None?",
                             "drop-before-update: los pesos se movieron igualmente en el paso 30: ¿pusiste los "
                             "gradientes a None?")

# %%
dropper, watch = DropSpikyUpdates(), WeightsMoved()
make_trainer(SPIKE + 1, [dropper, watch]).fit(TinyRegressor(), tiny_loader(data))
print("dropped steps:", dropper.dropped, "| weights moved at step 30:", watch.moved)

# %% [markdown]
# ## Exercise · who is in quarantine?
#
# The §A13 run above quarantined whole batches. Using `gpt_rollback.quarantine` (example ids)
# and `gpt.run.examples[i].rare` (True for a sentence with *written*/*bitten*), count how many
# quarantined sentences are rare and how many are ordinary. Store the two numbers in `n_rare`
# and `n_ordinary`.
#
# 🇪🇸 **Español.** Cuenta cuántas frases en cuarentena son raras y cuántas normales
# (`gpt.run.examples[i].rare`). Guarda los números en `n_rare` y `n_ordinary`.

# %% tags=["solution"] exercise="quarantine-rare"
n_rare = sum(gpt.run.examples[i].rare for i in gpt_rollback.quarantine)
n_ordinary = len(gpt_rollback.quarantine) - n_rare

# %% tags=["stub"] exercise="quarantine-rare"
n_rare = n_ordinary = exercise_todo("quarantine-rare", say(
    "count the rare and the ordinary sentences in gpt_rollback.quarantine",
    "cuenta las frases raras y las ordinarias en gpt_rollback.quarantine"))

# %% tags=["check"] exercise="quarantine-rare"
from utils.text import say

_rare = {e.id for e in gpt.run.examples if e.rare}
assert (n_rare, n_ordinary) == (len(gpt_rollback.quarantine & _rare), len(gpt_rollback.quarantine - _rare)), \
    say("quarantine-rare: count again - a sentence is rare when gpt.run.examples[i].rare is True",
        "quarantine-rare: vuelve a contar: una frase es rara cuando gpt.run.examples[i].rare es True")

# %%
print(f"quarantined: {n_rare} rare sentences, {n_ordinary} ordinary ones "
      f"(the run has {sum(e.rare for e in gpt.run.examples)} rare sentences)")
assert n_rare > 0 and n_rare + n_ordinary == len(gpt_rollback.quarantine)

# %% [markdown]
# Every ordinary sentence in that list was quarantined only because it shared a batch with a rare
# one (a run with no rollback after the shard quarantines only the shard's rare sentences; whether
# that happens varies from run to run). A rollback callback decides *when* to protect the run;
# *what* to keep out is a data decision, and Phase 19 tried one for §A13 that goes at the cause:
# mix the rare sentences in (`stratified-covering`) instead of learning to survive them.
#
# 🇪🇸 **Español.** Cada frase normal de esa lista está en cuarentena solo por compartir batch con una
# rara (si no hay rollbacks después del shard, la lista solo tiene las frases raras del shard; eso varía
# de una ejecución a otra). El callback decide *cuándo* proteger la ejecución; *qué* dejar fuera es una
# decisión sobre los datos, y la Fase 19 probó una para §A13 que va a la causa: mezclar las frases raras
# (`stratified-covering`).

# %% [markdown]
# ## Your lesson from this notebook
#
# Write the one thing from this notebook that you would do differently next time, in one line,
# and press **Save lesson**. It is appended, dated and tagged with this notebook (`notebook 20.03`), to
# `learners/<you>/phase-20/notes/lessons.md`; the grader looks for one lesson per notebook.
#
# 🇪🇸 **Español.** Escribe en una línea lo que harías distinto la próxima vez tras este cuaderno y pulsa
# **Guardar lección**. Se añade, con la fecha y la etiqueta de este cuaderno (`notebook 20.03`), a
# `learners/<tú>/phase-20/notes/lessons.md`; el corrector busca una lección por cuaderno.

# %% tags=["nbval-ignore-output"]
from utils.course.lesson_box import lesson_box

lesson_box("20.03")
