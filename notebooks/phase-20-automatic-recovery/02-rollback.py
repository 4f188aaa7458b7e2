# ---
# jupyter:
#   course:
#     nbval: lax
# ---

# %% [markdown]
# # 20.2 · Roll back, quarantine, replay
#
# Notebook 20.1 chose a detector. Now it drives the training loop: `utils.recovery.rollback.RollbackTrainer`
# wraps the course's `TrainingRun` and, when the detector fires, restores the last good
# checkpoint, **quarantines** the suspect batches (they are never trained again), and replays
# the same batches in the same order minus the quarantined ones. We run it on the §A13 `broken`
# run (seed 42) and measure, honestly, which settings keep the held-out loss where it was:
# the numbers decide, including where they disagree with the obvious plan.
#
# 🇪🇸 **Español.** En 20.1 elegimos un detector. Ahora gobierna el bucle: `RollbackTrainer` envuelve
# `TrainingRun` y, cuando el detector dispara, restaura el último checkpoint bueno, pone en
# **cuarentena** los batches sospechosos (no se vuelven a entrenar) y repite los mismos batches en el
# mismo orden sin los de la cuarentena. Lo probamos en `broken` (semilla 42) y medimos qué ajustes
# mantienen la pérdida de validación donde estaba.

# %%
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.core.pylabtools import print_figure
from IPython.display import Image

from utils.diagnosis import dashboard
from utils import postmortem
from utils.spikelab import symptoms
from utils.recovery.calibration import TOLERANCE
from utils.spikelab.config import config_for
from utils.recovery.detectors import LightningSpikeAdapter, make_grad_norm_detector
from utils.course.choice import Choice
from utils.course.exercises import exercise_todo
from utils.recovery.rollback import COURSE_POLICY, RUNS, RollbackTrainer, run_with_rollback
from utils.spikelab.schedule import lr_at
from utils.spikelab.train import run_variant
from utils.course.yours import show as show_yours
from utils.text import say


def show(fig, dpi=60):
    image = Image(print_figure(fig, "png", dpi=dpi))
    plt.close(fig)
    return image


def rise(log):
    """Held-out peak in the 80 steps from 312, minus its level before, in units of its noise."""
    return symptoms.compute(log)["heldout_rise_sigma"]


def recovery_facts(r):
    """What the text quotes about a recovery run (as ``utils.recovery.rollback.facts`` computes it), read off
    a run trained here: status, roll-backs, steps thrown away, first detection, give-up step, and the
    §1 symptoms of a completed run."""
    out = {"status": r.status, "rollbacks": r.rollbacks, "steps_discarded": r.steps_discarded}
    if r.status == "completed":
        out.update(symptoms.compute(r.log))
        out["max_grad_norm_after_event"] = max(r.log.steps["grad_norm_preclip"][out["event_step"]:])
    rollbacks = [e for e in r.log.events if e["kind"] == "rollback"]
    gave_up = [e for e in r.log.events if e["kind"] == "give-up"]
    out["first_detection_step"] = rollbacks[0]["step"] if rollbacks else None
    out["give_up_step"] = gave_up[0]["step"] if gave_up else None
    return out

# %% [markdown]
# ## What a checkpoint holds
#
# A roll-back is only as good as what it restores. Every K = 50 steps (before training that step)
# the trainer saves, through `utils.recovery.checkpoint.CheckpointManager` (atomic write, sha256 manifest,
# finite check, the last 3 kept): the model, the AdamW moments, the RNG states, the **data
# position** (global step, the batch cursor, the global batch index of every step so far, the
# quarantine), the detectors' state and the LR scale. There is no scheduler to save: the LR is a
# pure function of the global step (`utils.spikelab.schedule.lr_at`), so restoring the step restores it.
#
# 🇪🇸 **Español.** Cada 50 pasos se guarda el modelo, los momentos de AdamW, los generadores aleatorios,
# la **posición en los datos** (paso global, cursor de batches, índice global de cada batch entrenado,
# cuarentena), el estado de los detectores y la escala del LR. El schedule del LR es una función pura
# del paso: restaurar el paso restaura el LR.

# %%
trainer = RollbackTrainer(config_for("broken"), COURSE_POLICY)
state = trainer._state()
for key, value in state.items():
    print(f"{key:14} {sorted(value) if isinstance(value, dict) else value}")
cfg = config_for("broken")
print(f"\nLR at step 300 = lr_at(300) = {lr_at(300, cfg.peak_lr, cfg.warmup, cfg.total_steps):.6f}")
print(COURSE_POLICY)

# %% [markdown]
# ## Without recovery
#
# The baseline: the `broken` run trained as in Phase 19. In the runs we measured its held-out loss
# rises <span data-run="broken" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 5.9</span> σ above its
# level before the event (σ = <span data-run="broken" data-key="heldout_loss_noise" data-fmt=".4f" data-bound="max">&lt; 0.084</span>,
# the spread of the held-out loss over the 60 steps before step 312), peaking at step
# <span data-run="broken" data-key="heldout_peak_step">328</span>; your run's numbers are printed
# below.
#
# 🇪🇸 **Español.** Sin recuperación, la pérdida de validación de `broken` sube muchas veces su ruido
# sobre su nivel previo (los números de tu ejecución aparecen debajo).

# %%
plain = run_variant("broken")
s = symptoms.compute(plain)
print(f"held-out before {s['heldout_loss_before']:.4f}, noise {s['heldout_loss_noise']:.4f}, "
      f"peak {s['heldout_loss_peak']:.4f} at step {s['heldout_peak_step']}: {s['heldout_rise_sigma']:.1f} σ")
show_yours(say("held-out rise **{heldout_rise_sigma:.0f} σ** (σ = {heldout_loss_noise:.4f}), peak at step "
               "{heldout_peak_step}",
               "subida de la pérdida de validación **{heldout_rise_sigma:.0f} σ** (σ = {heldout_loss_noise:.4f}), "
               "máximo en el paso {heldout_peak_step}"), s)
assert s["heldout_rise_sigma"] >= 10

# %% [markdown]
# ## Which settings? The runs decide
#
# Six recovery runs of `broken`, all with the EMA loss detector and checkpoints every 50 steps;
# each detection rolls back to the newest good checkpoint before the suspect batches. The bar is
# 2× the EMA (the course policy's `loss_threshold`) except in the first row, which keeps the
# calibration's 1.5× of 20.1:
#
# | run | quarantine on a detection | cool-down | roll-backs allowed |
# |---|---|---|---|
# | `rollback-broken-1.5x` | as the course policy, with the loss bar at 1.5× | LR × 0.5 for 50 steps | 3 |
# | `rollback-broken-quarantine-only` | the spiking batch and the one before | – | 3 |
# | `rollback-broken-retries` | the same | LR × 0.5 for 50 steps | 30 |
# | `rollback-broken-skip-only` | the same + the 14 next batches (the rest of the shard) | – | 3 |
# | `rollback-broken` (**course policy**) | the same + the 14 next batches | LR × 0.5 for 50 steps | 3 |
# | `rollback-broken-grad` | as the course policy, plus the grad-norm detector | LR × 0.5 for 50 steps | 5 |
#
# PaLM (Chowdhery et al. 2022, §5.1) did the large-scale version: on a spike, restart from a
# checkpoint about 100 steps earlier and skip roughly 200–500 data batches.
#
# 🇪🇸 **Español.** Seis ejecuciones con recuperación, todas con el detector EMA (a 2×, salvo la primera,
# a 1.5×) y checkpoints cada 50 pasos; cambian qué se pone en cuarentena, si se baja el LR después y
# cuántos reintentos se permiten. PaLM hizo lo mismo a gran escala: volver ~100 pasos atrás y saltar
# 200–500 batches.

# %%
NAMES = ["rollback-broken-1.5x", "rollback-broken-quarantine-only", "rollback-broken-retries",
         "rollback-broken-skip-only",
         "rollback-broken", "rollback-broken-grad"]
results = {name: run_with_rollback(RUNS[name][0], policy=RUNS[name][1]) for name in NAMES}
print(f"{'run':34}{'status':>10}{'rollbacks':>10}{'steps run':>10}{'thrown away':>12}{'held-out rise':>15}")
for name, r in results.items():
    held = f"{rise(r.log):.1f} σ" if r.status == "completed" else "-"
    print(f"{name:34}{r.status:>10}{r.rollbacks:>10}{r.steps_trained:>10}{r.steps_discarded:>12}{held:>15}")

# %%
# your runs, in the words of the text below (one line per run)
facts = {name: recovery_facts(r) for name, r in results.items()}
show_yours(say("`rollback-broken-1.5x`: first roll-back at step {first_detection_step}; {status} after "
               "**{rollbacks}** roll-back(s), **{steps_discarded}** steps thrown away",
               "`rollback-broken-1.5x`: primer rollback en el paso {first_detection_step}; `{status}` tras "
               "**{rollbacks}** rollback(s), **{steps_discarded}** pasos tirados"), facts["rollback-broken-1.5x"])
show_yours(say("`rollback-broken-quarantine-only`: {status} at step {give_up_step}",
               "`rollback-broken-quarantine-only`: `{status}` en el paso {give_up_step}"),
           facts["rollback-broken-quarantine-only"])
show_yours(say("`rollback-broken-retries`: {status} after **{rollbacks}** roll-backs, **{steps_discarded}** steps "
               "thrown away",
               "`rollback-broken-retries`: `{status}` tras **{rollbacks}** rollbacks, **{steps_discarded}** pasos "
               "tirados"), facts["rollback-broken-retries"])
show_yours(say("`rollback-broken-skip-only`: {rollbacks} roll-back(s), held-out rise **{heldout_rise_sigma:.1f} σ**, "
               "pre-clip gradient norms up to **{max_grad_norm_after_event:.0f}** after the event",
               "`rollback-broken-skip-only`: {rollbacks} rollback(s), subida de la pérdida de validación "
               "**{heldout_rise_sigma:.1f} σ**, norma del gradiente antes del clipping de hasta "
               "**{max_grad_norm_after_event:.0f}** tras el evento"),
           facts["rollback-broken-skip-only"])
show_yours(say("`rollback-broken` (course policy): held-out rise **{heldout_rise_sigma:.2f} σ**, "
               "**{steps_discarded}** steps thrown away, {rollbacks} roll-back(s)",
               "`rollback-broken` (política del curso): subida de la pérdida de validación "
               "**{heldout_rise_sigma:.2f} σ**, **{steps_discarded}** pasos tirados, {rollbacks} rollback(s)"),
           facts["rollback-broken"])
show_yours(say("`rollback-broken-grad`: {status} after {rollbacks} roll-backs, {steps_discarded} steps thrown away, "
               "held-out rise **{heldout_rise_sigma:.1f} σ**",
               "`rollback-broken-grad`: `{status}` tras {rollbacks} rollbacks, {steps_discarded} pasos tirados, "
               "subida de la pérdida de validación **{heldout_rise_sigma:.1f} σ**"), facts["rollback-broken-grad"])

# %%
course, skip_only = results["rollback-broken"], results["rollback-broken-skip-only"]
grad, strict = results["rollback-broken-grad"], results["rollback-broken-1.5x"]
plain_rise = s["heldout_rise_sigma"]
assert COURSE_POLICY.loss_threshold == 2.0
# the course policy removes most of the damage: less than half the rise of the run without recovery
assert course.status == "completed" and rise(course.log) < plain_rise / 2
# the 1.5× bar also fires on later arrivals that the 2× bar lets through, and pays for them
later = [e["detection"] for e in strict.log.events if e["kind"] in ("rollback", "give-up")][1:]
between = [round(d["value"] / d["reference"], 2) for d in later
           if 1.5 <= d["value"] / d["reference"] < COURSE_POLICY.loss_threshold]
assert strict.rollbacks >= course.rollbacks
assert strict.status == "completed" or strict.rollbacks == COURSE_POLICY.max_retries   # which one varies
assert results["rollback-broken-quarantine-only"].status == "gave-up"
assert results["rollback-broken-retries"].status == "completed" and results["rollback-broken-retries"].rollbacks > 10
assert skip_only.status == "completed" and rise(skip_only.log) < plain_rise / 2   # not always under 3 σ
assert grad.rollbacks >= course.rollbacks                       # completes or gives up: it varies
assert grad.status == "gave-up" or rise(grad.log) < plain_rise / 2
print(f"1.5× bar: {strict.status}; " + (strict.reason or "no give-up"))
print("1.5× bar: loss ÷ EMA at the later detections", [round(d["value"] / d["reference"], 2) for d in later],
      "- between 1.5 and 2:", between)
print(results["rollback-broken-quarantine-only"].reason)
grad_rollbacks = [e for e in grad.log.events if e["kind"] == "rollback" and e["series"] == "grad_norm"]
show_yours(say("course policy: held-out rise **{course:.1f} σ** = **{share:.2f}×** the run without recovery; "
               "1.5× bar: **{n_between}** of its later detections between 1.5× and 2× the EMA; grad-norm loop: "
               "**{n_grad}** roll-back(s) from the gradient norm, {status}",
               "política del curso: subida de la pérdida de validación **{course:.1f} σ** = **{share:.2f}×** la de "
               "la ejecución sin recuperación; umbral a 1.5×: **{n_between}** de sus detecciones posteriores entre "
               "1.5× y 2× la EMA; bucle con grad-norm: **{n_grad}** rollback(s) por la norma del gradiente, "
               "`{status}`"),
           {"course": rise(course.log), "share": rise(course.log) / plain_rise, "n_between": len(between),
            "n_grad": len(grad_rollbacks), "status": grad.status})

# %% [markdown]
# **Question.** Before you read what the table says: why did `rollback-broken-quarantine-only` give up?
#
# 🇪🇸 **Español.** **Pregunta.** Antes de leer lo que dice la tabla: ¿por qué se rindió
# `rollback-broken-quarantine-only`?

# %%
gave_up_q = Choice("20.02", "why-it-gave-up", say(
    "rollback-broken-quarantine-only quarantines the spiking batch and the one before, and gave up. Why?",
    "rollback-broken-quarantine-only pone en cuarentena el batch del pico y el anterior, y se rindió. ¿Por qué?"),
    options={
        "a": (say("Its checkpoints were bad, so every restore failed",
                  "Sus checkpoints estaban mal, así que cada restauración falló"),
              say("No: every checkpoint is checked (sha256 manifest, finite values) and the replay is exact; the "
                  "runs that skip more batches complete from the same checkpoints.",
                  "No: cada checkpoint se comprueba (manifiesto sha256, valores finitos) y el replay es "
                  "exacto; las ejecuciones que saltan más batches terminan desde los mismos checkpoints.")),
        "b": (say("The LR stays at full strength after a roll-back",
                  "El LR sigue al completo después de un rollback"),
              say("No: rollback-broken-skip-only has no cool-down either and completes; what differs is how many "
                  "of the shard's batches are kept out.",
                  "No: rollback-broken-skip-only tampoco enfría el LR y termina; lo que cambia es cuántos batches "
                  "del shard se dejan fuera.")),
        "c": (say("The shard is 15 consecutive batches: after two are dropped the replay meets the next shard "
                  "batch, the detector fires again, and the budget of roll-backs runs out",
                  "El shard son 15 batches seguidos: tras quitar dos, el replay encuentra el siguiente batch "
                  "del shard, el detector vuelve a disparar y se acaba el presupuesto de rollbacks"),
              say("The quarantine treated the batch that showed the spike, not its cause, a run of batches; given "
                  "30 roll-backs the same loop gets through, at a high cost in thrown-away steps.",
                  "La cuarentena trató el batch que mostró el pico, no su causa, una racha de batches; con 30 rollbacks "
                  "el mismo bucle pasa, a un coste alto en pasos tirados.")),
    }, right="c")

# %% tags=["stub"] exercise="why-it-gave-up"
gave_up_q   # choose an option and press Check / elige una opción y pulsa Comprobar

# %% tags=["solution"] exercise="why-it-gave-up"
gave_up_q.choose("c")

# %% [markdown]
# What the table says:
#
# - **At 1.5× the loop chases harmless arrivals.** The first roll-back, at step
#   <span data-run="rollback-broken-1.5x" data-key="first_detection_step">312</span>, skips the shard; after it the rare sentences reach the model one at a
#   time in the ordinary stream, and a first arrival can lift the loss to between 1.5× and 2× its
#   EMA (it did in most runs we measured; your run's ratios are printed above), the kind of spike
#   `one-batch` shows, below the damage bar. The 1.5× loop rolls back for those too, the 2× loop
#   does not: in every run we measured the 1.5× run needed at least as
#   many roll-backs as the course policy, and in most of them it spent its whole budget and gave up
#   (status in the runs we measured:
#   <span data-run="rollback-broken-1.5x" data-key="status">completed or gave-up</span>, after
#   <span data-run="rollback-broken-1.5x" data-key="rollbacks">1–4</span> roll-backs and
#   <span data-run="rollback-broken-1.5x" data-key="steps_discarded">9–72</span> steps thrown away;
#   yours is in the **Your run** lines above). That is why the course policy's loss bar is 2×, not the
#   calibration's 1.5×: the right bar for a detector that only reports is not the right bar for one
#   that rolls the run back.
# - **Quarantining two batches is not enough.** The shard is 15 consecutive batches: after the
#   roll-back the replay meets the next shard batch, the detector fires again, and so on. With a
#   budget of 3 roll-backs the loop gives up (`gave-up`, the reason above) at step
#   <span data-run="rollback-broken-quarantine-only" data-key="give_up_step">309</span>. Given 30 roll-backs it gets through, after
#   <span data-run="rollback-broken-retries" data-key="rollbacks">13–21</span> roll-backs that throw away <span data-run="rollback-broken-retries" data-key="steps_discarded">261–376</span> steps, because each
#   retry also quarantines the healthy batch trained just before the spike. So the steps before
#   312 change as well, and with them the baseline its held-out rise is measured against: its
#   rise column does not compare with the others.
# - **Skipping the rest of the shard is what does most of the work.** With the 14 next batches
#   skipped the run completes (<span data-run="rollback-broken-skip-only" data-key="rollbacks">0–3</span> roll-back(s)) and the held-out loss rises
#   <span data-run="rollback-broken-skip-only" data-key="heldout_rise_sigma" data-fmt=".1f" data-bound="max">&lt; 27</span> σ:
#   in every run we measured less than half the rise of the run without recovery, even without a
#   cool-down. The rare sentences still come back later, one or two per batch, in the shuffled
#   stream (after the event, pre-clip gradient norms reach several times their usual size; your
#   run's largest is in the **Your run** line above), and at the full LR they do some harm:
#   skipping alone often ends above the 3 σ bar.
# - **A 50-step cool-down at half the LR** (the course policy) kept the rise under 3 σ in most runs
#   we measured (<span data-run="rollback-broken" data-key="heldout_rise_sigma" data-fmt=".2f">-6.73–14.87</span> σ;
#   in every run less than half the rise without recovery, in most a small fraction of it), and
#   lower than skipping alone in most runs, usually for the same
#   <span data-run="rollback-broken" data-key="steps_discarded">0–91</span> thrown-away steps
#   (<span data-run="rollback-broken" data-key="rollbacks">0–4</span> roll-back(s)). In some runs the
#   loop rolls back once more, after the shard, for a later batch whose rare sentences lift the loss
#   above 2× its EMA; the cell below lists such later roll-backs of your run. The cool-down is part
#   of the policy, not a decoration, and it is not a guarantee: check the held-out loss.
# - **Adding the grad-norm detector buys nothing clear**: it can also fire on later batches that
#   hold a rare sentence (a gradient spike like `one-batch`'s; your run's count of roll-backs from
#   the gradient norm is printed above). In every run we measured it rolled back at least as often
#   as the course policy
#   (<span data-run="rollback-broken-grad" data-key="rollbacks">0–7</span> roll-backs,
#   <span data-run="rollback-broken-grad" data-key="steps_discarded">0–130</span> thrown-away steps),
#   and in some runs it spent its budget and gave up
#   (<span data-run="rollback-broken-grad" data-key="status">completed or gave-up</span>); when it
#   completes, whether its held-out rise ends lower or higher than the course policy's varies from
#   run to run.
#
# 🇪🇸 **Español.** Con el umbral a 1.5× el bucle persigue también las llegadas inofensivas de las frases
# raras tras saltar el shard: en todas las ejecuciones que medimos vuelve atrás al menos tantas veces
# como a 2×, y en la mayoría agota sus reintentos y se rinde. Por eso la política del curso usa 2×.
# Poner en cuarentena dos batches no basta: el shard son 15 batches seguidos y el detector vuelve a
# disparar en cada reintento; con 30 reintentos pasa, tras muchos rollbacks. Saltar el resto del shard
# hace casi todo el trabajo (la subida queda por debajo de la mitad de la de la ejecución sin
# recuperación), pero sin enfriar el LR la validación acaba a menudo por encima de 3 σ; enfriarlo (×0.5
# durante 50 pasos) la mantuvo por debajo en la mayoría de las ejecuciones medidas, sin ser una
# garantía. El detector de gradiente no aporta nada claro: al menos tantos rollbacks, a veces se rinde,
# y sin un resultado siempre mejor.

# %%
fig, ax = plt.subplots(figsize=(8, 3))
for label, log in [("no recovery", plain), ("skip the shard", skip_only.log), ("course policy", course.log)]:
    points = [(st, v) for st, v in zip(log.heldout["step"], log.heldout["loss"]) if st >= 240]
    ax.plot(*zip(*points), "-o", ms=2, label=label)
before, noise = s["heldout_loss_before"], s["heldout_loss_noise"]
ax.axhspan(before - 3 * noise, before + 3 * noise, color="grey", alpha=0.2, label="before ± 3σ")
ax.axvline(312, color="red", lw=0.8, ls="--")
ax.set_xlabel("step", fontsize=8)
ax.set_ylabel("held-out loss", fontsize=8)
ax.tick_params(labelsize=7)
ax.legend(fontsize=7)
show(fig, dpi=70)

# %% [markdown]
# ## The course policy, event by event
#
# Every action lands in the run log's `events` (the dashboard draws them as dashed lines), and
# `log.meta["batch_indices"]` records the global batch index each kept step trained.
#
# 🇪🇸 **Español.** Cada acción queda en `events` del registro (el dashboard las dibuja como líneas
# discontinuas) y `log.meta["batch_indices"]` guarda el índice global del batch de cada paso.

# %%
for event in course.log.events:
    if event["kind"] == "rollback":
        d = event["detection"]
        print(f"step {event['step']}: rollback ({event['series']} {d['value']:.3f} > {COURSE_POLICY.loss_threshold} × {d['reference']:.3f}) "
              f"to checkpoint {event['restored_step']}, {event['discarded_steps']} steps thrown away, "
              f"LR × {event['lr_scale']} for steps {event['cooldown'][0]}-{event['cooldown'][1] - 1}")
    else:
        skipped = event["skipped_batches"]       # empty when the next batches are already quarantined
        print(f"step {event['step']}: {event['kind']} suspects {event['suspect_batches']}, "
              + (f"skipped {skipped[0]}-{skipped[-1]}" if skipped else "no further batch to skip"))
trained = course.log.meta["batch_indices"]
print("global batch index of steps 305-316:", trained[305:317])
assert not set(trained) & set(course.quarantined)
first_skip = [e for e in course.log.events if e["kind"] == "quarantine"][0]
first_rollback, *later_rollbacks = [e for e in course.log.events if e["kind"] == "rollback"]
assert 312 <= first_rollback["step"] < 327              # a shard batch (the shard is steps 312-326)
assert first_rollback["restored_step"] == 300            # the last checkpoint before the shard
spiking = first_skip["suspect_batches"][-1]
assert first_skip["skipped_batches"] == list(range(spiking + 1, spiking + 1 + COURSE_POLICY.skip_next))
assert first_skip["skipped_batches"][-1] >= 326                             # the rest of the shard
for e in later_rollbacks:                     # in some runs: a later batch with a rare sentence
    batch = e["symptoms"]["batch_index"]
    n_rare = sum(trainer.run.examples[i].rare for i in trainer.batches[batch])
    print(f"later roll-back at step {e['step']}: batch {batch}, rare sentences {n_rare}")
    assert batch > first_skip["skipped_batches"][-1] and n_rare > 0          # after the shard
print(f"{len(later_rollbacks)} roll-back(s) after the first one in your run")

# %%
show(dashboard.draw(course.log, panels=[1, 2, 3, 6], step=312, window=(280, 420), figsize=(9, 3.6)))

# %% [markdown]
# ## A post-mortem draft, written by the loop
#
# At each roll-back, before the log is rewound, the trainer reads the §1 symptoms off the
# telemetry around the detection (`utils.recovery.rollback.symptoms_at`) and stores them in the event.
# `postmortem.draft_symptoms` turns them into the Phase 19 form, every field marked *drafted*
# until a person confirms it. The loss at the spike is the peak the loop saw; there is no
# recovery loss, because the run was rolled back.
#
# 🇪🇸 **Español.** En cada rollback el bucle lee los síntomas de la §1 alrededor de la detección y los
# guarda en el evento; `postmortem.draft_symptoms` los convierte en el formulario de la Fase 19, con
# cada campo marcado como borrador hasta que alguien lo confirme.

# %%
first = [e for e in course.log.events if e["kind"] == "rollback"][0]
draft = postmortem.draft_symptoms(first["symptoms"])
for name in postmortem.SYMPTOM_FIELDS:
    print(f"{name:18} {getattr(draft, name)!s:32} {'drafted' if name in draft.drafted else ''}")
print(f"{'grad_norm_ratio':18} {first['symptoms']['grad_norm_ratio']:.0f}")
assert int(draft.spike_step) == first["step"] and 312 <= first["step"] < 327 and "tten" in draft.unusual_tokens

# %% [markdown]
# ## Where the loss detector is not the right witness
#
# `control-no-rare-piece` does the same damage as `broken` (the shard's sentences use *read* /
# *taken*, so there is no rare piece and no gradient spike). Which detectors see it?
#
# - the grad-norm detector: never while the shard does its damage (in the runs we measured it
#   fired at most once from 10 steps before the shard on, some steps after the shard, and in most
#   runs not at all; 20.1);
# - Lightning's `SpikeDetection` at its defaults: first at step
#   <span data-run="calibration" data-key="no-rare_lightning_first_fire">326–329</span> (ordinary data
#   returns at step 327, to a model the shard has already damaged);
# - our EMA loss detector (the course policy's 2×): first at step
#   <span data-run="rollback-no-rare-loss" data-key="first_detection_step">304–336</span> over the
#   runs we measured. In most of them that is the shard's first batch, step 312, and the course
#   policy then keeps the held-out rise small (a few σ at most, under 3 σ in most runs). But it
#   fires there because the shard's sentences are *unfamiliar* (above 2× the EMA at once: the
#   ratio is printed below), not because anything is damaged yet: it fires just the same on
#   `one-batch`, which does no damage (its spike is well above 2× the EMA in every measured run).
#   In the other runs the shard's first batch stays under the bar, the loop first fires only after
#   the shard, on a model that is already damaged, and it can then spend its budget and give up,
#   as it did in some of the runs we measured;
# - the held-out probe (32 held-out sentences, no gradient, every 8 steps), with the loss detector
#   switched off: at step <span data-run="rollback-no-rare-probe" data-key="first_detection_step">320</span>,
#   a probe soon after the damage began. It watches the damage itself, and up to 8 steps late: the
#   held-out rise stays below a tenth of the
#   <span data-run="control-no-rare-piece" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 12</span> σ
#   of the run without recovery in every run we measured
#   (<span data-run="rollback-no-rare-probe" data-key="heldout_rise_sigma" data-fmt=".1f">-6.4–16.2</span> σ;
#   under the 3 σ bar in most runs, not in all).
#
# Your run's numbers are in the **Your run** lines below the next cell.
#
# 🇪🇸 **Español.** `control-no-rare-piece` hace el mismo daño sin pieza rara ni pico de gradiente. El
# detector de gradiente no lo ve durante el shard; Lightning lo ve tarde; nuestro EMA dispara en la
# mayoría de las ejecuciones al llegar el shard porque las frases son desconocidas (igual que en
# `one-batch`, que no hace daño), y si no, solo después del shard, con el modelo ya dañado, y puede
# acabar rindiéndose; la sonda de validación dispara porque mide el daño mismo, hasta ocho pasos más
# tarde: la subida queda por debajo de una décima parte de la de la ejecución sin recuperación.

# %%
no_rare = run_variant("control-no-rare-piece")
grad_detector = make_grad_norm_detector()     # one detector fed the whole run
grad_fires = [st for st, g in enumerate(no_rare.steps["grad_norm_preclip"]) if grad_detector.update(g, st)]
lightning = LightningSpikeAdapter()
lightning_fires = [st for st, v in enumerate(no_rare.steps["loss"]) if lightning.update(v, st) and st >= 300]
by_loss = run_with_rollback("control-no-rare-piece", policy=RUNS["rollback-no-rare-loss"][1])
by_probe = run_with_rollback("control-no-rare-piece", policy=RUNS["rollback-no-rare-probe"][1])
print("grad-norm detector fires:", grad_fires)
print("Lightning SpikeDetection first fires:", lightning_fires[:3])
for label, r in (("EMA loss detector", by_loss), ("probe only", by_probe)):
    e = [e for e in r.log.events if e["kind"] == "rollback"][0]
    held = f"{rise(r.log):.1f} σ" if r.status == "completed" else "-"
    print(f"{label:18} first rollback at {e['step']} ({e['series']}, {e['detection']['value']:.3f} vs "
          f"{e['detection']['reference']:.3f}); {r.status}; held-out rise {held}; "
          f"{r.steps_discarded} steps thrown away")
print(f"without recovery: held-out rise {rise(no_rare):.0f} σ")
start = 312 - TOLERANCE                        # as the calibration of 20.1 reads the first fires
show_yours(say("grad-norm detector: first fire from step {start} on: {grad}; Lightning `SpikeDetection`: first "
               "fire at step {lightning}",
               "detector de grad-norm: primer disparo desde el paso {start}: {grad}; `SpikeDetection` de Lightning: "
               "primer disparo en el paso {lightning}"),
           {"start": start, "grad": next((st for st in grad_fires if st >= start), None),
            "lightning": next((st for st in lightning_fires if st >= start), None)})
show_yours(say("EMA loss detector: first roll-back at step {first_detection_step}, {status}, held-out rise "
               "**{heldout_rise_sigma:.1f} σ**",
               "detector EMA de la pérdida: primer rollback en el paso {first_detection_step}, `{status}`, subida "
               "de la pérdida de validación **{heldout_rise_sigma:.1f} σ**"), recovery_facts(by_loss))
show_yours(say("probe only: first roll-back at step {first_detection_step}, held-out rise "
               "**{heldout_rise_sigma:.1f} σ** (without recovery: **{none:.0f} σ**)",
               "solo la sonda: primer rollback en el paso {first_detection_step}, subida de la pérdida de "
               "validación **{heldout_rise_sigma:.1f} σ** (sin recuperación: **{none:.0f} σ**)"),
           {**recovery_facts(by_probe), "none": rise(no_rare)})
assert not [st for st in grad_fires if 312 <= st < 327]             # blind while the shard does its damage
assert 312 <= lightning_fires[0] <= 327 + TOLERANCE                 # around the shard, never before it
probe_step = [e for e in by_probe.log.events if e["kind"] == "rollback"][0]["step"]
assert 312 <= probe_step <= 327 + RUNS["rollback-no-rare-probe"][1].probe_every   # a probe soon after the damage
assert rise(no_rare) >= 10
assert by_loss.status == "gave-up" or rise(by_loss.log) < rise(no_rare) / 10
assert by_probe.status == "completed" and rise(by_probe.log) < rise(no_rare) / 10   # most of the damage removed

# %% [markdown]
# What the probe costs: one forward pass (no backward) over its 32 sentences every 8 steps, i.e.
# four batch-sized forwards per eight training steps, and up to 8 steps of detection delay. In
# time, `benchmarks/bench_checkpointing.py` measures it together with the checkpoints; the cell
# below shows this run's own split (timings vary with the machine).
#
# 🇪🇸 **Español.** La sonda cuesta un forward sobre 32 frases cada 8 pasos y hasta 8 pasos de retraso;
# `benchmarks/bench_checkpointing.py` mide su coste en tiempo.

# %% tags=["nbval-ignore-output"]
# (timings vary with the machine and its load)
for label, r in (("course policy on broken", course), ("probe run on control-no-rare-piece", by_probe)):
    rest = r.train_seconds - r.checkpoint_seconds - r.probe_seconds
    print(f"{label}: checkpoints {100 * r.checkpoint_seconds / rest:.1f}% and probe "
          f"{100 * r.probe_seconds / rest:.1f}% of the other training time")

# %% [markdown]
# ## Exercise 1 · Which batches were never trained?
#
# From `course.log.meta["batch_indices"]` alone, list the global batch indices up to the last one
# trained that the run skipped. They should be exactly the quarantined ones.
#
# 🇪🇸 **Español.** A partir solo de `course.log.meta["batch_indices"]`, lista los índices globales de
# batch (hasta el último entrenado) que la ejecución se saltó: deben ser los de la cuarentena.

# %% tags=["stub"] exercise="never-trained"
never_trained = exercise_todo("never-trained", say("the batch indices up to the last trained one that were skipped",
                                                  "los índices de batch, hasta el último entrenado, que se saltaron"))

# %% tags=["solution"] exercise="never-trained"
trained = course.log.meta["batch_indices"]
never_trained = sorted(set(range(max(trained) + 1)) - set(trained))
print(never_trained)

# %% tags=["check"] exercise="never-trained"
from utils.text import say

assert never_trained == [b for b in course.quarantined if b <= max(course.log.meta["batch_indices"])], say(
    "never-trained: compare range(max(trained) + 1) with the trained indices",
    "never-trained: compara range(max(trained) + 1) con los índices entrenados")

# %% [markdown]
# ## Exercise 2 · What did recovery cost?
#
# From the `rollback` events alone, compute how many optimizer steps the recovery threw away, and
# how many extra steps that is per kept step. Compare with `course.steps_discarded`.
#
# 🇪🇸 **Español.** A partir solo de los eventos `rollback`, calcula cuántos pasos se tiraron y cuántos
# pasos extra supone por paso conservado.

# %% tags=["stub"] exercise="recovery-cost"
thrown_away = exercise_todo("recovery-cost", say("sum the steps thrown away by the rollback events",
                                                "suma los pasos descartados por los eventos rollback"))
extra_per_kept = exercise_todo("recovery-cost", say("thrown-away steps per kept step",
                                                   "pasos descartados por cada paso conservado"))

# %% tags=["solution"] exercise="recovery-cost"
thrown_away = sum(e["discarded_steps"] for e in course.log.events if e["kind"] == "rollback")
extra_per_kept = thrown_away / len(course.log)
print(thrown_away, round(extra_per_kept, 3))

# %% tags=["check"] exercise="recovery-cost"
from utils.text import say

assert thrown_away == course.steps_discarded, say("recovery-cost: add up discarded_steps of the rollback events",
                                                 "recovery-cost: suma los discarded_steps de los eventos rollback")
assert abs(extra_per_kept - course.steps_discarded / 420) < 1e-9, say(
    "recovery-cost: divide by the 420 kept steps", "recovery-cost: divide entre los 420 pasos conservados")

# %% [markdown]
# ## What to take away
#
# - A roll-back needs the whole state: weights, optimizer moments, RNG, **data position**, the
#   detector's own state. With it, replay is exact (the tests check the parameter hashes).
# - Quarantine what caused the spike, not only the batch that showed it: here the cause was a run
#   of 15 batches, and dropping 2 only moved the spike one batch on.
# - Measure the held-out loss after recovering: it is what says whether the recovery worked
#   (skipping the shard alone left a
#   <span data-run="rollback-broken-skip-only" data-key="heldout_rise_sigma" data-fmt=".1f" data-bound="max">&lt; 27</span> σ
#   rise, often above 3 σ; with the cool-down it was
#   <span data-run="rollback-broken" data-key="heldout_rise_sigma" data-fmt=".2f">-6.73–14.87</span> σ,
#   under 3 σ in most runs we measured but not in all).
# - A bar that is right for reporting spikes can be wrong for rolling back: at 1.5× the loop chased
#   the harmless first arrivals of the rare sentences, with at least as many roll-backs in every
#   run and a give-up in most; at 2× it completed in all.
# - The training loss mixes "unusual batch" with "damaged model"; a small held-out probe watches
#   the damage itself, for a forward pass every few steps.
#
# 🇪🇸 **Español.** Un rollback necesita todo el estado (pesos, momentos, RNG, posición en los datos,
# estado del detector); hay que poner en cuarentena la causa, no solo el batch que la mostró; hay que
# medir la validación después de recuperar (ni saltar el shard ni enfriar el LR la dejaron siempre bajo
# 3 σ); el umbral que sirve para avisar (1.5×) puede ser demasiado estricto para volver atrás (2×); y
# una pequeña sonda de validación vigila el daño mismo.

# %% [markdown]
# ## Your lesson from this notebook
#
# Write the one thing from this notebook that you would do differently next time, in one line,
# and press **Save lesson**. It is appended, dated and tagged with this notebook (`notebook 20.02`), to
# `learners/<you>/phase-20/notes/lessons.md`; the grader looks for one lesson per notebook.
#
# 🇪🇸 **Español.** Escribe en una línea lo que harías distinto la próxima vez tras este cuaderno y pulsa
# **Guardar lección**. Se añade, con la fecha y la etiqueta de este cuaderno (`notebook 20.02`), a
# `learners/<tú>/phase-20/notes/lessons.md`; el corrector busca una lección por cuaderno.

# %% tags=["nbval-ignore-output"]
from utils.course.lesson_box import lesson_box

lesson_box("20.02")
