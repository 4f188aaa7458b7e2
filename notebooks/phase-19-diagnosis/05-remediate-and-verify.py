# %% [markdown]
# # 19.5 · Remediate and verify
#
# The post-mortem of run `19-spike-001` named a root cause (§4), the smallest change that removes
# it (§5), and numbers that must hold after the change (§6). This notebook does what §5 and §6
# promise: it applies the candidate remediations, reruns each with seed 42, and checks your §6
# expectations against every new run log, one pass/fail table per run.
#
# Every remediation is an honest change made through `utils` (a variant of
# `utils.config.VARIANTS`): a different data order, clip threshold, initialisation or tokenizer.
# Nothing edits a loss or a gradient. Which remediations work is for the runs to say, not for
# the story that came with the incident: where they disagree, the runs win.
#
# **Español.** El post-mortem de `19-spike-001` nombró una causa (§4), el cambio más pequeño que
# la elimina (§5) y los números que deben cumplirse después (§6). Este cuaderno aplica los
# remedios candidatos, repite cada ejecución con la semilla 42 y comprueba tus expectativas de la
# §6 con cada registro nuevo. Cada remedio es un cambio honesto hecho con `utils` (orden de los
# datos, umbral de recorte, inicialización o tokenizador). Qué remedios funcionan lo dicen las
# ejecuciones, no la historia del incidente.

# %%
from IPython.core.pylabtools import print_figure
from IPython.display import Image

from utils import dashboard, data_order, postmortem, symptoms, verification
from utils.compare import DAMAGE_SIGMA, GRAD_SPIKE_RATIO, NOISE_SIGMA
from utils.config import config_for
from utils.exercises import exercise_todo
from utils.learner import LearnerNameError, repo_root
from utils.train import run_variant

RUN_ID = "19-spike-001"
EXAMPLE_FILE = repo_root() / "learners" / "example-complete" / "phase-19" / "notes" / "postmortems" / f"{RUN_ID}.md"
example = postmortem.parse_markdown(EXAMPLE_FILE.read_text(encoding="utf-8"))   # the course's worked example


def panels(run_log, numbers, rows=1, step=312, window=(280, 420)):
    """The dashboard panels `numbers` of a run, as a small image."""
    fig = dashboard.draw(run_log, panels=numbers, step=step, window=window, figsize=(9, 0.4 + 1.6 * rows))
    return Image(print_figure(fig, "png", dpi=60))

# %% [markdown]
# Your §6, from the post-mortem you saved in `04-post-mortem` (or, if you have not saved one with
# expectations yet, the worked example's):
#
# **Español.** Tu §6, del post-mortem que guardaste en `04-post-mortem` (o, si aún no guardaste
# uno con expectativas, la del ejemplo resuelto):

# %%
# NBVAL_IGNORE_OUTPUT
# (which post-mortem is yours depends on who runs the notebook)
try:
    mine = postmortem.load_saved(RUN_ID)
except LearnerNameError:
    mine = None
if mine is not None and mine.verification.expectations:
    pm, source = mine, "your saved post-mortem"
else:
    pm, source = example, "the worked example (learners/example-complete)"
v = pm.verification
print(f"§6 from {source}: seed {v.seed}, ε {v.tolerance}, step T {v.step}")
for e in v.expectations:
    print(f"  {e.metric} {e.comparator} {e.value}")

# %% [markdown]
# ## The candidates
#
# | variant | what it changes | aimed at |
# |---|---|---|
# | `clip-0.5` | clip the global gradient norm at 0.5 instead of 1.0 (the incident story's recommendation) | the gradient spike |
# | `stratified` | re-batch so that no batch holds two occurrences of a piece with fewer than 10 occurrences | the concentration of rare pieces |
# | `stratified+clip-0.5` | both | both |
# | `stratified-covering` | the same rule, with the threshold chosen from the counts so that it covers `tten` (25) | the concentration of rare pieces |
# | `control-mixed-shard` | the shard's sentences shuffled into the stream from the start: no run of shard batches | the root cause of §4 |
# | `emb-init-0.02` | token embeddings initialised with std 0.02 instead of 5e-4, so the rare rows are not tiny | the gradient spike |
# | `retokenized` | "written"/"bitten" tokenized as whole words: the rare piece `tten` is gone | the option **not taken** |
#
# Each runs with seed 42, like the broken run it is compared with (about six seconds each).
#
# **Español.** Candidatos: recorte a 0,5 (lo que recomendaba la historia); estratificar con umbral
# 10; ambos; estratificar con un umbral que cubre `tten` (25); barajar el fragmento desde el
# principio (la causa de la §4); inicializar los embeddings con 0,02; y la opción **no tomada**,
# re-tokenizar "written"/"bitten" como palabras enteras. Todas con la semilla 42.

# %%
REMEDIATIONS = ["clip-0.5", "stratified", "stratified+clip-0.5", "stratified-covering", "control-mixed-shard",
                "emb-init-0.02"]
NOT_TAKEN = ["retokenized"]
logs = {name: run_variant(name, seed=42) for name in ["broken", *REMEDIATIONS, *NOT_TAKEN]}
results = {name: symptoms.compute(run) for name, run in logs.items()}
print(f"gradient spike: grad ratio ≥ {GRAD_SPIKE_RATIO}; damage: held-out rise ≥ {DAMAGE_SIGMA} σ of its noise "
      f"(small from {NOISE_SIGMA} σ, no damage below)\n")
print(verification.format_comparison(results))

# %% [markdown]
# ## Your §6 against every run
#
# `verification.check_verification(pm.verification, log)` reads §6 as written: the seed must be
# the rerun's, the metrics are computed with `utils.symptoms.compute` on the first T steps, and a
# value that misses its bound by no more than ε still passes (its row says "within ε"). A run is
# **verified** when every row passes. The broken run must fail, or the expectations prove nothing.
#
# **Español.** `verification.check_verification(pm.verification, log)` lee la §6 tal como está
# escrita: la semilla debe ser la de la repetición, las métricas se calculan con
# `utils.symptoms.compute` sobre los primeros T pasos, y un valor que falla por no más de ε
# sigue valiendo. Una ejecución queda **verificada** si pasan todas las filas. La ejecución rota
# tiene que fallar; si no, las expectativas no prueban nada.

# %%
checks = {name: verification.check_verification(pm.verification, run) for name, run in logs.items()}
print(verification.format_matrix(checks))

# %%
print(verification.format_table(checks["control-mixed-shard"], title="— control-mixed-shard, row by row"))

# %% [markdown]
# The same check with the worked example's §6, whatever you wrote: the course's claims about the
# remediations rest on these rows. Its held-out row asks for no damage (below the 3 σ of noise).
#
# **Español.** La misma comprobación con la §6 del ejemplo resuelto: las afirmaciones del curso
# sobre los remedios se apoyan en estas filas.

# %%
course = {name: verification.check_verification(example.verification, run) for name, run in logs.items()}
verified = sorted(name for name, rows in course.items() if verification.all_passed(rows))
print("verified with the worked example's §6:", ", ".join(verified))
# the shuffled shard is verified on every floating-point path; stratified-covering on some (see below)
assert "control-mixed-shard" in verified and set(verified) <= {"control-mixed-shard", "stratified-covering"}
for name in ["broken", "clip-0.5", "stratified+clip-0.5", "emb-init-0.02", "retokenized"]:
    assert results[name]["heldout_rise_sigma"] >= DAMAGE_SIGMA, name          # the damage stays
assert results["stratified"]["heldout_rise_sigma"] >= NOISE_SIGMA            # not removed either
covering = results["stratified-covering"]["heldout_rise_sigma"]
assert covering < DAMAGE_SIGMA and covering * 2 < results["broken"]["heldout_rise_sigma"]
assert results["control-mixed-shard"]["heldout_rise_sigma"] < NOISE_SIGMA
assert results["control-mixed-shard"]["grad_norm_ratio"] < GRAD_SPIKE_RATIO

# %% [markdown]
# ## What the runs say
#
# The numbers below are the reference path's (`utils/reference_path.py`); your machine may give
# others, the conclusions hold on every path we measured.
#
# **One remediation removes the damage on every path; one more cuts it to a fraction; the others
# do not.** Shuffling the shard in (`control-mixed-shard`) removes the root cause: no run of
# same-kind batches, and the rare piece is learned early from a sentence here and there. Its
# held-out rise is
# <span data-run="control-mixed-shard" data-key="heldout_rise_sigma" data-fmt=".1f">0.2</span> σ
# and its gradient ratio <span data-run="control-mixed-shard" data-key="grad_norm_ratio" data-fmt=".1f">1.5</span>×,
# and every path we measured agrees: no damage, no gradient spike.
#
# `stratified-covering` is a data-order fix like the first: it allows at most one `tten` sentence
# per batch, which spreads the shard out (panel 6 below). It needs a threshold that actually covers
# the piece, and at 25 the rule catches many ordinary pieces too, so it reorders much of the
# stream (Exercise 1 counts how much). On every path we measured it cut the held-out rise to less
# than half of the broken run's, but whether it gets under the 3 σ of noise depends on the path:
# on the reference path it stays at
# <span data-run="stratified-covering" data-key="heldout_rise_sigma" data-fmt=".1f">8.1</span> σ
# (against <span data-run="broken" data-key="heldout_rise_sigma" data-fmt=".0f">21</span> σ), so
# the worked example's §6 fails on its held-out row; on the two other paths we measured it was
# below 3 σ and §6 passed. A fix that passes its verification on some machines and not on others
# has too little margin to be the one you keep. Its gradient ratio,
# <span data-run="stratified-covering" data-key="grad_norm_ratio" data-fmt=".1f">12.9</span>×
# against the 15× bar, flatters it too: the ratio is read from the designed event step 312 on, and
# stratifying moved the first `tten` sentence to step
# <span data-run="pattern:stratified-covering" data-key="grad_spike_step">310</span>, where the
# pre-clip norm jumps <span data-run="pattern:stratified-covering" data-key="grad_ratio" data-fmt=".0f">104</span>×
# its median. The rare piece's gradient spike is moved, not removed; it was harmless anyway.
#
# `stratified` with the threshold 10 does not remove the damage: `tten` occurs 20 times with the
# shard, so the rule never touches it and the shard still arrives as a block of full shard batches
# (held-out rise <span data-run="stratified" data-key="heldout_rise_sigma" data-fmt=".0f">34</span> σ
# on the reference path; on every path we measured above the 3 σ of noise). Adding clip 0.5 to it
# leaves the damage too.
#
# `emb-init-0.02` treats the harmless mechanism: with ordinary-sized embedding rows the gradient
# spike shrinks from <span data-run="broken" data-key="grad_norm_ratio" data-fmt=".0f">149</span>× to
# <span data-run="emb-init-0.02" data-key="grad_norm_ratio" data-fmt=".0f">12</span>× (less than half
# on every path we measured; below the 15× bar on the reference path, not on every path), and the
# damage stays: the held-out rise is
# <span data-run="emb-init-0.02" data-key="heldout_rise_sigma" data-fmt=".0f">49</span> σ, more than
# the broken run's <span data-run="broken" data-key="heldout_rise_sigma" data-fmt=".0f">21</span> σ
# (more on every path we measured).
#
# **Español.** Los números son los del camino de referencia; las conclusiones se cumplen en todos
# los caminos medidos. **Un remedio elimina el daño en todos los caminos, otro lo reduce a una
# fracción, los demás no.** Barajar el fragmento (`control-mixed-shard`) elimina la causa (subida
# <span data-run="control-mixed-shard" data-key="heldout_rise_sigma" data-fmt=".1f">0.2</span> σ).
# `stratified-covering` reparte el fragmento con una frase por lote y reduce la subida a menos de la
# mitad de la de `broken` en todos los caminos medidos; que quede por debajo de 3 σ depende del
# camino (<span data-run="stratified-covering" data-key="heldout_rise_sigma" data-fmt=".1f">8.1</span> σ
# en el de referencia), y su pico de gradiente solo se adelanta al paso
# <span data-run="pattern:stratified-covering" data-key="grad_spike_step">310</span>. `stratified`
# con umbral 10 no toca `tten` (20 apariciones). `emb-init-0.02` reduce el pico de gradiente a
# <span data-run="emb-init-0.02" data-key="grad_norm_ratio" data-fmt=".0f">12</span>× (menos de la
# mitad) pero el daño sigue, incluso mayor
# (<span data-run="emb-init-0.02" data-key="heldout_rise_sigma" data-fmt=".0f">49</span> σ).

# %%
shard = {name: dashboard.shard_counts(logs[name]) for name in ["broken", "stratified", "stratified-covering"]}
for name, per_batch in shard.items():
    print(f"{name:20} full shard batches: {sum(n == 8 for n in per_batch):2}, "
          f"batches holding a shard sentence: {sum(n > 0 for n in per_batch)}")
assert sum(n == 8 for n in shard["stratified"]) >= 8          # still a block of full shard batches
assert max(shard["stratified-covering"]) == 1                 # at most one shard sentence per batch
from utils.stability_check import grad_spike

moved = grad_spike(logs["stratified-covering"])               # the largest pre-clip norm of the run
print(f"stratified-covering: first shard sentence at step {shard['stratified-covering'].index(1)}, "
      f"largest gradient spike at step {moved['step']} ({moved['ratio']:.0f}× its median)")
assert shard["stratified-covering"].index(1) <= moved["step"] < 312 and moved["ratio"] >= GRAD_SPIKE_RATIO
panels(logs["stratified-covering"], [1, 6])

# %% [markdown]
# ## Clip 0.5 did not help
#
# The incident story recommended clipping at 0.5. The runs say it did not help: the held-out loss
# still rises <span data-run="clip-0.5" data-key="heldout_rise_sigma" data-fmt=".0f">23</span> σ
# (against <span data-run="broken" data-key="heldout_rise_sigma" data-fmt=".0f">21</span> σ without
# it: about the same, a little more on some floating-point paths and a little less on others, and
# on every path we measured above the 10 σ bar for damage) and the pre-clip gradient still
# jumps <span data-run="clip-0.5" data-key="grad_norm_ratio" data-fmt=".0f">257</span>× its median
# (more than the broken run's
# <span data-run="broken" data-key="grad_norm_ratio" data-fmt=".0f">149</span>×, on every path we
# measured). A clip
# threshold cannot prevent a pre-clip norm: it acts after the norm is measured, on an update that
# was already being clipped almost every step (the ordinary norm is about 1.5, above both thresholds),
# and Adam divides each update by the running size of its own gradients, so shrinking every
# gradient by a similar factor changes little. The damage comes from *which* data the model sees
# for fifteen steps in a row, and no clip threshold changes that.
#
# **Español.** La historia recomendaba recortar a 0,5. Las ejecuciones dicen que no ayudó: la
# pérdida de validación sigue subiendo
# <span data-run="clip-0.5" data-key="heldout_rise_sigma" data-fmt=".0f">23</span> σ (más o menos lo
# mismo que sin recorte, por encima del umbral de daño de 10 σ en todos los caminos medidos) y el gradiente
# antes del recorte sigue saltando
# <span data-run="clip-0.5" data-key="grad_norm_ratio" data-fmt=".0f">257</span>× su mediana. Un
# umbral de recorte no puede cambiar una norma medida antes del recorte, y Adam divide cada
# actualización por el tamaño de sus propios gradientes. El daño viene de *qué* datos ve el modelo
# durante quince pasos seguidos.

# %%
for name in ["broken", "clip-0.5"]:
    g, clip = logs[name].steps["grad_norm_preclip"], logs[name].meta["clip"]
    clipped = sum(x > clip for x in g)
    print(f"{name:9} clip {clip}: {clipped} of {len(g)} steps clipped, pre-clip norm at 312 = {g[312]:.0f}, "
          f"held-out rise {results[name]['heldout_rise_sigma']:.0f} σ")
assert sum(x > 0.5 for x in logs["clip-0.5"].steps["grad_norm_preclip"]) >= 0.95 * len(logs["clip-0.5"])
assert results["clip-0.5"]["grad_norm_ratio"] >= GRAD_SPIKE_RATIO
assert results["clip-0.5"]["heldout_rise_sigma"] >= DAMAGE_SIGMA
panels(logs["clip-0.5"], [1, 3])

# %% [markdown]
# ## The option not taken: retokenize
#
# If `tten` is the problem, why not tokenize "written" and "bitten" as whole words, so the piece
# disappears? Because the new tokens are just as rare: `▁written` and `▁bitten` occur only in the
# same 20 sentences, their embedding rows are just as untrained, and the shard still arrives as
# fifteen consecutive batches. The run keeps a
# <span data-run="retokenized" data-key="grad_norm_ratio" data-fmt=".0f">57</span>× gradient
# spike and a <span data-run="retokenized" data-key="heldout_rise_sigma" data-fmt=".0f">50</span> σ
# held-out rise. Retokenizing hides the piece from panel 7, not the problem from panel 1: the
# unusual tokens of §1 change names, the post-mortem does not.
#
# **Español.** ¿Por qué no tokenizar "written" y "bitten" como palabras enteras? Porque los tokens
# nuevos son igual de raros y el fragmento sigue llegando en quince lotes seguidos: la ejecución
# conserva un pico de gradiente de
# <span data-run="retokenized" data-key="grad_norm_ratio" data-fmt=".0f">57</span>× y una subida
# de <span data-run="retokenized" data-key="heldout_rise_sigma" data-fmt=".0f">50</span> σ.
# Re-tokenizar esconde la pieza, no el problema.

# %%
r = results["retokenized"]
counts = {logs["retokenized"].meta["pieces"][int(k)]: n for k, n in logs["retokenized"].meta["piece_counts"].items()}
print("unusual tokens at step 312:", r["unusual_tokens"], {t: counts[t] for t in r["unusual_tokens"]})
print(f"gradient ratio {r['grad_norm_ratio']:.0f}×, held-out rise {r['heldout_rise_sigma']:.0f} σ")
assert sum(counts[t] for t in r["unusual_tokens"]) == 20          # the same 20 sentences
assert "tten" not in counts and r["grad_norm_ratio"] >= GRAD_SPIKE_RATIO and r["heldout_rise_sigma"] >= DAMAGE_SIGMA
panels(logs["retokenized"], [3, 7])

# %% [markdown]
# ### Exercise 1: a stratified batcher of your own
#
# Write `my_stratify(stream, examples, threshold, batch_size)`: it cuts the stream of example ids
# into batches of `batch_size` so that **no batch holds more than one occurrence of a piece that
# occurs fewer than `threshold` times** in the run's sentences (`data_order.piece_counts`; one
# sentence that holds a piece twice is fine on its own). Keep the stream's order as far as the rule
# allows: an example that would break the rule waits for the next batch, where it goes first. Stop
# when a batch can no longer be filled. Then compare with `utils.data_order.stratify` on the broken
# run's stream, with the covering threshold.
#
# **Español.** Escribe `my_stratify(stream, examples, threshold, batch_size)`: corta la secuencia en
# lotes de modo que **ningún lote tenga más de una aparición de una pieza con menos de `threshold`
# apariciones**, conservando el orden en lo posible (un ejemplo que rompería la regla espera al
# lote siguiente). Compárala con `utils.data_order.stratify` sobre la secuencia de la ejecución rota.

# %%
cfg = config_for("broken", seed=42)
examples = data_order.examples_for(cfg)
stream = [i for batch in data_order.batches_for(cfg, examples) for i in batch]   # the broken run's order
threshold = data_order.covering_threshold(examples)
counts = data_order.piece_counts(examples)
rare = {e.id: {t for t in e.ids if counts[t] < threshold} for e in examples}


def breaks_rule(batch):
    """True when two sentences of the batch share a piece rarer than the threshold."""
    seen = set()
    for i in batch:
        if rare[i] & seen:
            return True
        seen |= rare[i]
    return False


plain = [stream[k:k + cfg.batch_size] for k in range(0, len(stream), cfg.batch_size)]
print(f"threshold {threshold}: {sum(map(breaks_rule, plain))} of {len(plain)} batches of the broken order break the rule")

# %% [stub] id=stratify-yourself
def my_stratify(stream, examples, threshold, batch_size):
    return exercise_todo("stratify-yourself", "write a batcher that never puts two occurrences of a rare piece in one batch")

# %% [solution] id=stratify-yourself
def my_stratify(stream, examples, threshold, batch_size):
    counts = data_order.piece_counts(examples)
    rare_of = {e.id: {t for t in e.ids if counts[t] < threshold} for e in examples}
    waiting, batches = list(stream), []
    while waiting:
        batch, used, later = [], set(), []
        for i in waiting:
            if len(batch) < batch_size and not rare_of[i] & used:
                batch.append(i)
                used |= rare_of[i]
            else:
                later.append(i)
        if len(batch) < batch_size:
            break
        batches.append(batch)
        waiting = later
    return batches

# %% [check] id=stratify-yourself
mine_batches = my_stratify(stream, examples, threshold, cfg.batch_size)
theirs = data_order.stratify(stream, examples, threshold, cfg.batch_size)
assert mine_batches and not any(map(breaks_rule, mine_batches)), "stratify-yourself: a batch breaks the rule"
assert all(len(b) == cfg.batch_size for b in mine_batches), "stratify-yourself: every batch must be full"
assert mine_batches == theirs, "stratify-yourself: same rule, but not the same order as utils.data_order.stratify"

# %%
mine_batches = my_stratify(stream, examples, threshold, cfg.batch_size)
theirs = data_order.stratify(stream, examples, threshold, cfg.batch_size)
print(f"yours: {len(mine_batches)} batches, {sum(map(breaks_rule, mine_batches))} break the rule; "
      f"utils.data_order.stratify: {len(theirs)} batches; identical: {mine_batches == theirs}")

# %% [markdown]
# ### Exercise 2: write the §6 expectations yourself
#
# Write at least two expectations (strings like `"heldout_rise_sigma < 3"`; metrics are keys of
# `utils.symptoms.compute`) that **pass** on `control-mixed-shard` and **fail** on `broken`,
# `clip-0.5` and `retokenized`. Then, if they differ from what your saved post-mortem says, put them
# into §6 of your post-mortem in `04-post-mortem` and save it again.
#
# **Español.** Escribe al menos dos expectativas que **se cumplan** en `control-mixed-shard` y
# **fallen** en `broken`, `clip-0.5` y `retokenized`. Si difieren de las de tu post-mortem, ponlas
# en su §6 y vuelve a guardarlo.

# %% [stub] id=write-expectations
my_expectations = exercise_todo("write-expectations", "write §6 expectations like 'heldout_rise_sigma < 3'")

# %% [solution] id=write-expectations
my_expectations = ["heldout_rise_sigma < 3", "post_event_ratio < 1.1"]

# %% [check] id=write-expectations
mine_checks = {name: verification.check_expectations(my_expectations, results[name], tolerance=0.05)
               for name in ["control-mixed-shard", "broken", "clip-0.5", "retokenized"]}
assert len(my_expectations) >= 2, "write-expectations: write at least two expectations"
assert not any(r.note.startswith("no metric") for rows in mine_checks.values() for r in rows), \
    "write-expectations: a metric is not a key of utils.symptoms.compute"
assert verification.all_passed(mine_checks["control-mixed-shard"]), "write-expectations: the fix must pass"
assert not any(verification.all_passed(mine_checks[n]) for n in ["broken", "clip-0.5", "retokenized"]), \
    "write-expectations: broken, clip-0.5 and retokenized must each fail at least one expectation"

# %%
mine_checks = {name: verification.check_expectations(my_expectations, results[name], tolerance=0.05)
               for name in ["control-mixed-shard", "broken", "clip-0.5", "retokenized"]}
print(verification.format_matrix(mine_checks))

# %% [markdown]
# ## Summary
#
# The post-mortem's §5 (shuffle the shard in) is verified by its §6 on a rerun with seed 42, on
# every floating-point path we measured. The data-order fix `stratified-covering` cuts the damage
# to a fraction on every path but passes §6 only on some: too little margin. Clipping harder,
# stratifying with a threshold that misses the piece, a larger embedding init and retokenizing all
# fail: each leaves the run of same-kind batches in place. If your own §6 passed on the broken run, or failed on the fix, go back
# to `04-post-mortem` and sharpen it.
#
# **Español.** El §5 del post-mortem (barajar el fragmento) queda verificado por su §6 en una
# repetición con la semilla 42, en todos los caminos de coma flotante medidos;
# `stratified-covering` reduce el daño a una fracción pero pasa la §6 solo en algunos caminos.
# Recortar más, estratificar con
# un umbral que no cubre la pieza, una inicialización mayor y re-tokenizar fallan: todos dejan en
# su sitio la racha de lotes del mismo tipo. Si tu §6 pasó en la ejecución rota o falló en el
# arreglo, vuelve a `04-post-mortem` y afínala.
