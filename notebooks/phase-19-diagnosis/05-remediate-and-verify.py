# %% [markdown]
# # 19.5 · Remediate and verify
#
# The post-mortem of run `19-spike-001` named a root cause (§4), the smallest change that removes
# it (§5), and numbers that must hold after the change (§6). This notebook does what §5 and §6
# promise: it applies the candidate remediations, reruns each with seed 42, and checks your §6
# expectations against every new run log, one pass/fail table per run.
#
# Every remediation is an honest change made through `utils` (a variant of
# `utils.spikelab.config.VARIANTS`): a different data order, clip threshold, initialisation or tokenizer.
# Nothing edits a loss or a gradient. Which remediations work is for the runs to say, not for
# the story that came with the incident: where they disagree, the runs win.
#
# 🇪🇸 **Español.** El post-mortem de `19-spike-001` nombró una causa (§4), el cambio más pequeño que la
# elimina (§5) y los números que deben cumplirse después (§6). Este cuaderno aplica los remedios
# candidatos, repite cada ejecución con la semilla 42 y comprueba tus expectativas de la §6 con cada
# registro nuevo. Cada remedio es un cambio honesto hecho con `utils` (orden de los datos, umbral de
# clipping, inicialización o tokenizador). Qué remedios funcionan lo dicen las ejecuciones, no la
# historia del incidente.

# %%
from IPython.core.pylabtools import print_figure
from IPython.display import Image

from utils.diagnosis import dashboard
from utils.spikelab import data_order
from utils import postmortem
from utils.course import postmortem_notes
from utils.spikelab import symptoms
from utils.postmortem import verification
from utils.spikelab.thresholds import DAMAGE_SIGMA, GRAD_SPIKE_RATIO, NOISE_SIGMA
from utils.spikelab.config import config_for
from utils.course.choice import Choice
from utils.course.exercises import exercise_todo
from utils.course.learner import LearnerNameError, repo_root
from utils.spikelab.train import run_variant
from utils.course.yours import show
from utils.text import say

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
# 🇪🇸 **Español.** Tu §6, del post-mortem que guardaste en `04-post-mortem` (o, si aún no guardaste
# uno con expectativas, la del ejemplo resuelto):

# %% tags=["nbval-ignore-output"]
# (which post-mortem is yours depends on who runs the notebook)
try:
    mine = postmortem_notes.load_saved(RUN_ID)
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
# 🇪🇸 **Español.** Candidatos: clip a 0.5 (lo que recomendaba la historia); estratificar con umbral 10;
# ambos; estratificar con un umbral que cubre `tten` (25); barajar el shard desde el principio (la causa
# de la §4); inicializar los embeddings con 0.02; y la opción **no tomada**, retokenizar
# "written"/"bitten" como palabras enteras. Todas con la semilla 42.

# %%
REMEDIATIONS = ["clip-0.5", "stratified", "stratified+clip-0.5", "stratified-covering", "control-mixed-shard",
                "emb-init-0.02"]
NOT_TAKEN = ["retokenized"]
logs = {name: run_variant(name, seed=42) for name in ["broken", *REMEDIATIONS, *NOT_TAKEN]}
results = {name: symptoms.compute(run) for name, run in logs.items()}
print(f"gradient spike: grad ratio ≥ {GRAD_SPIKE_RATIO}; damage: held-out rise ≥ {DAMAGE_SIGMA} σ of its noise "
      f"(small from {NOISE_SIGMA} σ, no damage below)\n")
print(verification.format_comparison(results))
for name, r in results.items():        # the numbers the text below quotes as ranges, from your runs
    show(say("`{name}`: held-out rise **{heldout_rise_sigma:.1f} σ**, gradient ratio **{grad_norm_ratio:.1f}×**",
             "`{name}`: subida de la pérdida de validación **{heldout_rise_sigma:.1f} σ**, ratio de grad-norm "
             "**{grad_norm_ratio:.1f}×**"), {**r, "name": name})

# %% [markdown]
# ## Your §6 against every run
#
# `verification.check_verification(pm.verification, log)` reads §6 as written: the seed must be
# the rerun's, the metrics are computed with `utils.spikelab.symptoms.compute` on the first T steps, and a
# value that misses its bound by no more than ε still passes (its row says "within ε"). A run is
# **verified** when every row passes. The broken run must fail, or the expectations prove nothing.
#
# 🇪🇸 **Español.** `verification.check_verification(pm.verification, log)` lee la §6 tal como está
# escrita: la semilla debe ser la de la repetición, las métricas se calculan con
# `utils.spikelab.symptoms.compute` sobre los primeros T pasos, y un valor que falla por no más de ε
# sigue valiendo. Una ejecución queda **verificada** si pasan todas las filas. La ejecución rota
# tiene que fallar; si no, las expectativas no prueban nada.

# %%
checks = {name: verification.check_verification(pm.verification, run) for name, run in logs.items()}
print(verification.format_matrix(checks))

# %%
print(verification.format_table(checks["control-mixed-shard"], title="— control-mixed-shard, row by row"))

# %% [markdown]
# The same check with the worked example's §6, whatever you wrote: the course's claims about the
# remediations rest on these rows. Its held-out row asks for less than half the damage bar (5 σ),
# not for "within the 3 σ of noise": the fix's own rise varies from run to run, and a row that a
# correct fix fails on some reruns proves nothing.
#
# 🇪🇸 **Español.** La misma comprobación con la §6 del ejemplo resuelto: las afirmaciones del curso sobre
# los remedios se apoyan en estas filas. Su fila del conjunto de validación pide menos de la mitad de la
# barra de daño (5 σ), no "dentro del ruido", porque la subida del arreglo varía de una ejecución a
# otra.

# %%
course = {name: verification.check_verification(example.verification, run) for name, run in logs.items()}
verified = sorted(name for name, rows in course.items() if verification.all_passed(rows))
print("verified with the worked example's §6:", ", ".join(verified))
# the shuffled shard is verified in every run we measured; stratified-covering in some (see below)
assert "control-mixed-shard" in verified and set(verified) <= {"control-mixed-shard", "stratified-covering"}
for name in ["broken", "clip-0.5", "emb-init-0.02", "retokenized"]:
    assert results[name]["heldout_rise_sigma"] >= DAMAGE_SIGMA, name          # the damage stays
for name in ["stratified", "stratified+clip-0.5"]:                           # not removed either:
    assert results[name]["heldout_rise_sigma"] >= 2 * NOISE_SIGMA, name      # ≥ 6 σ, ≥ 10 σ in most runs
covering = results["stratified-covering"]["heldout_rise_sigma"]
assert covering < DAMAGE_SIGMA and covering * 2 < results["broken"]["heldout_rise_sigma"]
assert results["control-mixed-shard"]["heldout_rise_sigma"] < DAMAGE_SIGMA / 2   # below 3 σ in most runs
assert results["control-mixed-shard"]["grad_norm_ratio"] < GRAD_SPIKE_RATIO

# %% [markdown]
# ### Question: which remediation do you keep?
#
# Decide from the tables above (yours, with your §6, and the worked example's) before you read what
# the runs say below.
#
# 🇪🇸 **Español.** ### Pregunta: ¿qué remedio te quedas? Decide a partir de las tablas de arriba antes de
# leer lo que dicen las ejecuciones.

# %%
keep_q = Choice("19.05", "keep-which-fix", say(
    "Which candidate do you keep as the remediation of 19-spike-001?",
    "¿Qué candidato te quedas como remedio de 19-spike-001?"), options={
    "a": (say("clip-0.5, the incident story's recommendation", "clip-0.5, lo que recomendaba la historia"),
          say("No: its held-out rise stays above the 10 σ damage bar, and its pre-clip gradient still spikes. A "
              "clip acts after the norm is measured; the damage comes from which data the model sees.",
              "No: su subida sigue por encima de la barra de daño de 10 σ y su gradiente antes del clipping sigue "
              "saltando. El clip actúa después de medir la norma; el daño viene de qué datos ve el modelo.")),
    "b": (say("emb-init-0.02, which shrinks the gradient spike", "emb-init-0.02, que reduce el pico de gradiente"),
          say("No: it treats the harmless mechanism. The spike shrinks, the held-out rise stays above the damage bar.",
              "No: trata el mecanismo inofensivo. El pico se reduce, la subida sigue por encima de la barra de daño.")),
    "c": (say("stratified-covering, a data-order fix", "stratified-covering, un arreglo del orden de los datos"),
          say("Not as the one you keep: it cuts the rise to a fraction in every run we measured, but passes the "
              "worked example's §6 only in some. Your run is one sample; a fix whose verification passes or "
              "fails from rerun to rerun has too little margin.",
              "No como el que te quedas: reduce la subida a una fracción en todas las ejecuciones medidas, pero "
              "pasa la §6 del ejemplo solo en algunas. Tu ejecución es una muestra; un arreglo cuya verificación "
              "pasa o falla según la repetición tiene muy poco margen.")),
    "d": (say("control-mixed-shard: the shard's sentences shuffled in from the start",
              "control-mixed-shard: las frases del shard barajadas desde el principio"),
          say("It removes the root cause of §4 (no run of same-kind batches), and the worked example's §6 passed "
              "on it in every run we measured.",
              "Elimina la causa de la §4 (ninguna racha de batches del mismo tipo), y la §6 del ejemplo se cumplió "
              "en todas las ejecuciones medidas.")),
}, right="d")

# %% tags=["stub"] exercise="keep-which-fix"
keep_q   # choose an option and press Check / elige una opción y pulsa Comprobar

# %% tags=["solution"] exercise="keep-which-fix"
keep_q.choose("d")

# %% [markdown]
# ## What the runs say
#
# The numbers below are the ranges we measured over several runs (seeds 42 to 46); your own runs'
# values are in the **Your run** lines under the comparison table above. The conclusions held in
# every run we measured, unless they say "most".
#
# **One remediation removes the damage in every run; one more cuts it to a fraction; the others
# do not.** Shuffling the shard in (`control-mixed-shard`) removes the root cause: no run of
# same-kind batches, and the rare piece is learned early from a sentence here and there. Its
# held-out rise is
# <span data-run="control-mixed-shard" data-key="heldout_rise_sigma" data-fmt=".1f">-2.9–5.9</span> σ
# and its gradient ratio <span data-run="control-mixed-shard" data-key="grad_norm_ratio" data-fmt=".1f" data-bound="max">&lt; 15</span>×:
# never damage (below 3 σ in all but one run we measured, a little above it in that one), no
# gradient spike, and it passes the worked example's §6 in every run we measured.
#
# `stratified-covering` is a data-order fix like the first: it allows at most one `tten` sentence
# per batch, which spreads the shard out (panel 6 below). It needs a threshold that actually covers
# the piece, and at 25 the rule catches many ordinary pieces too, so it reorders much of the
# stream. In every run we measured it cut the held-out rise to less than half of the broken run's,
# and never to damage, but whether it gets under the 3 σ of noise, or under the 5 σ of §6, varies
# from run to run: its rise measured
# <span data-run="stratified-covering" data-key="heldout_rise_sigma" data-fmt=".1f" data-bound="max">&lt; 21</span> σ
# (against <span data-run="broken" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 5.9</span> σ for
# `broken`), so the worked example's §6 passes in some runs and fails in others (your run's verdict
# is in the tables above). A fix that passes its verification in some runs and not in others has
# too little margin to be the one you keep. Its gradient ratio,
# <span data-run="stratified-covering" data-key="grad_norm_ratio" data-fmt=".1f" data-bound="max">&lt; 90</span>×
# against the 15× bar, flatters it too: the ratio is read from the designed event step 312 on, and
# stratifying moved the first `tten` sentence a few steps earlier. In most runs the largest pre-clip
# norm of the run comes with it, <span data-run="pattern:stratified-covering" data-key="grad_ratio" data-fmt=".0f" data-bound="min">&gt; 3.9</span>×
# its median (at least 10× in every run we measured). The rare piece's gradient spike is moved, not
# removed; it was harmless anyway.
#
# `stratified` with the threshold 10 does not remove the damage: `tten` occurs 20 times with the
# shard, so the rule never touches it and the shard still arrives as a block of full shard batches
# (held-out rise <span data-run="stratified" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 2.3</span> σ:
# at least 6 σ in every run we measured, above the 10 σ damage bar in most). Adding clip 0.5 to it
# leaves the damage too (again at least 6 σ in every run, above 10 σ in most).
#
# `emb-init-0.02` treats the harmless mechanism: with ordinary-sized embedding rows the gradient
# spike shrinks from <span data-run="broken" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 31</span>× to
# <span data-run="emb-init-0.02" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 3.8</span>× (less than half
# in every run we measured; whether it falls below the 15× bar varies from run to run), and the
# damage stays: the held-out rise is
# <span data-run="emb-init-0.02" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 5.1</span> σ, against
# the broken run's <span data-run="broken" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 5.9</span> σ,
# above the 10 σ bar for damage in every run we measured.
#
# 🇪🇸 **Español.** Los números son los rangos medidos en varias ejecuciones (semillas 42 a 46); los de
# las tuyas están en las líneas **Your run**. Las conclusiones se cumplieron en todas, salvo donde dicen
# "la mayoría". **Un remedio elimina el daño en todas las ejecuciones, otro lo reduce a una fracción,
# los demás no.** Barajar el shard (`control-mixed-shard`) elimina la causa (subida
# <span data-run="control-mixed-shard" data-key="heldout_rise_sigma" data-fmt=".1f">-2.9–5.9</span> σ;
# nunca daño, bajo 3 σ en todas las ejecuciones medidas menos una) y pasa la §6 en todas.
# `stratified-covering` reparte el shard con una frase por batch y reduce la subida a menos de la mitad
# de la de `broken` en todas las ejecuciones medidas; que quede por debajo de 3 σ, o de los 5 σ de la
# §6, varía de una ejecución a otra
# (<span data-run="stratified-covering" data-key="heldout_rise_sigma" data-fmt=".1f" data-bound="max">&lt; 21</span>
# σ), y su pico de gradiente, en la mayoría de las ejecuciones, solo se adelanta a la primera frase con
# `tten`, unos pasos antes del 312. `stratified` con umbral 10 no toca `tten` (20 apariciones): el daño
# sigue (al menos 6 σ en todas, más de 10 σ en la mayoría). `emb-init-0.02` reduce el pico de gradiente
# a
# <span data-run="emb-init-0.02" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 3.8</span>×
# (menos de la mitad) pero el daño sigue
# (<span data-run="emb-init-0.02" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 5.1</span>
# σ).

# %%
shard = {name: dashboard.shard_counts(logs[name]) for name in ["broken", "stratified", "stratified-covering"]}
for name, per_batch in shard.items():
    print(f"{name:20} full shard batches: {sum(n == 8 for n in per_batch):2}, "
          f"batches holding a shard sentence: {sum(n > 0 for n in per_batch)}")
assert sum(n == 8 for n in shard["stratified"]) >= 8          # still a block of full shard batches
assert max(shard["stratified-covering"]) == 1                 # at most one shard sentence per batch
from utils.diagnosis.stability_check import grad_spike

moved = grad_spike(logs["stratified-covering"])               # the largest pre-clip norm of the run
print(f"stratified-covering: first shard sentence at step {shard['stratified-covering'].index(1)}, "
      f"largest gradient spike at step {moved['step']} ({moved['ratio']:.0f}× its median)")
show(say("`stratified-covering`: largest gradient spike at step {step}, **{ratio:.0f}×** its median",
         "`stratified-covering`: mayor pico de gradiente en el paso {step}, **{ratio:.0f}×** su mediana"), moved)
# held in every run we measured: the first shard sentence comes before the window from 312, and the
# run's largest gradient spike is at least 10× its median (at the first shard batches in most runs)
assert shard["stratified-covering"].index(1) < 312 and moved["ratio"] >= 10
panels(logs["stratified-covering"], [1, 6])

# %% [markdown]
# ## Clip 0.5 did not help
#
# The incident story recommended clipping at 0.5. The runs say it did not help: the held-out loss
# still rises <span data-run="clip-0.5" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 3.9</span> σ
# (against <span data-run="broken" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 5.9</span> σ without
# it: sometimes more and sometimes less, from run to run, and above the 10 σ bar for damage in
# every run we measured) and the pre-clip gradient still
# jumps <span data-run="clip-0.5" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 33</span>× its median
# (against the broken run's
# <span data-run="broken" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 31</span>×: above the 15× bar
# in every run we measured). A clip
# threshold cannot prevent a pre-clip norm: it acts after the norm is measured, on an update that
# was already being clipped almost every step (the ordinary norm is about 1.5, above both thresholds),
# and Adam divides each update by the running size of its own gradients, so shrinking every
# gradient by a similar factor changes little. The damage comes from *which* data the model sees
# for fifteen steps in a row, and no clip threshold changes that.
#
# 🇪🇸 **Español.** La historia recomendaba bajar el clip a 0.5. Las ejecuciones dicen que no ayudó: la
# pérdida de validación sigue subiendo
# <span data-run="clip-0.5" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 3.9</span>
# σ (a veces más y a veces menos que sin clipping, por encima del umbral de daño de 10 σ en todas las
# ejecuciones medidas) y el gradiente antes del clipping sigue saltando
# <span data-run="clip-0.5" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 33</span>×
# su mediana. Un umbral de clipping no puede cambiar una norma medida antes del clipping, y Adam divide
# cada actualización por el tamaño de sus propios gradientes. El daño viene de *qué* datos ve el modelo
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
# <span data-run="retokenized" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 9.6</span>× gradient
# spike and a <span data-run="retokenized" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 14</span> σ
# held-out rise. Retokenizing hides the piece from panel 7, not the problem from panel 1: the
# unusual tokens of §1 change names, the post-mortem does not.
#
# 🇪🇸 **Español.** ¿Por qué no tokenizar "written" y "bitten" como palabras enteras? Porque los tokens
# nuevos son igual de raros y el shard sigue llegando en quince batches seguidos: la ejecución conserva
# un pico de gradiente de
# <span data-run="retokenized" data-key="grad_norm_ratio" data-fmt=".0f" data-bound="min">&gt; 9.6</span>×
# y una subida de
# <span data-run="retokenized" data-key="heldout_rise_sigma" data-fmt=".0f" data-bound="min">&gt; 14</span>
# σ. Retokenizar esconde la pieza, no el problema.

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
# sentence that holds a piece twice is fine on its own). An example that would break the rule is not
# thrown away: it waits for a later batch. Stop when the examples still waiting can no longer fill a
# batch. Any batching that follows these rules passes the check (it also tries made-up streams: a
# stream with no rare piece, a sentence holding its rare piece twice, an empty stream);
# `utils.spikelab.data_order.stratify` is one such batching, which keeps the stream's order as far
# as the rule allows. Then compare yours with it on the broken run's stream, with the covering
# threshold.
#
# 🇪🇸 **Español.** Escribe `my_stratify(stream, examples, threshold, batch_size)`: corta la secuencia en
# batches de modo que **ningún batch tenga más de una aparición de una pieza con menos de `threshold`
# apariciones**. Un ejemplo que rompería la regla no se tira: espera a un batch posterior. Para cuando
# los ejemplos que esperan ya no llenan un batch. Cualquier reparto que siga estas reglas pasa la
# comprobación (que también prueba secuencias inventadas); `utils.spikelab.data_order.stratify` es uno,
# que conserva el orden en lo posible. Compara el tuyo con él sobre la secuencia de la ejecución rota.

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

# %% tags=["stub"] exercise="stratify-yourself"
def my_stratify(stream, examples, threshold, batch_size):
    return exercise_todo("stratify-yourself", say(
        "write a batcher that never puts two occurrences of a rare piece in one batch",
        "escribe un batcher que nunca ponga dos apariciones de una pieza rara en el mismo batch"))

# %% tags=["solution"] exercise="stratify-yourself"
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

# %% tags=["check"] exercise="stratify-yourself"
from collections import Counter as _Counter

from utils.text import say


def _stratify_problem(batches, stream, examples, threshold, batch_size):
    """What breaks the rules in ``batches`` (None when nothing does), judged without any reference batching."""
    _counts = data_order.piece_counts(examples)
    _rare = {e.id: {t for t in e.ids if _counts[t] < threshold} for e in examples}

    def _conflicts(batch):
        seen = set()
        for i in batch:
            if _rare[i] & seen:
                return True
            seen |= _rare[i]
        return False

    batches = [list(b) for b in batches]
    if any(len(b) != batch_size for b in batches):
        return say(f"every batch must hold exactly {batch_size} examples",
                   f"cada batch debe tener exactamente {batch_size} ejemplos")
    bad = next((k for k, b in enumerate(batches) if _conflicts(b)), None)
    if bad is not None:
        return say(f"batch {bad} holds two occurrences of a piece rarer than the threshold: {batches[bad]}",
                   f"el batch {bad} tiene dos apariciones de una pieza más rara que el umbral: {batches[bad]}")
    left = _Counter(stream) - _Counter(i for b in batches for i in b)
    if _Counter(i for b in batches for i in b) - _Counter(stream):
        return say("the batches hold examples that are not in the stream (or more often than the stream has them)",
                   "los batches tienen ejemplos que no están en el stream (o más veces que en el stream)")
    # the examples left over, in stream order: if a greedy pass can still fill a batch, you stopped too early
    waiting, batch, used = [], [], set()
    for i in stream:
        if left[i] > 0:
            left[i] -= 1
            waiting.append(i)
    for i in waiting:
        if len(batch) < batch_size and not _rare[i] & used:
            batch.append(i)
            used |= _rare[i]
    if len(batch) == batch_size:
        return say(f"{len(waiting)} examples were left out, and they can still fill a batch (for example {batch}): "
                   "an example that breaks the rule waits for a later batch, it is not thrown away",
                   f"{len(waiting)} ejemplos se quedaron fuera y aún pueden llenar un batch (por ejemplo {batch}): "
                   "un ejemplo que rompe la regla espera a un batch posterior, no se descarta")
    return None


_Ex = data_order.Example
_toy = [_Ex(0, "r a", (90, 1), True), _Ex(1, "r b", (90, 2), True), _Ex(2, "r r", (91, 91), True),   # 90, 91: rare
        _Ex(3, "c", (1, 2, 1, 2), False), _Ex(4, "c", (1, 2, 1, 2), False), _Ex(5, "c", (2, 1, 2, 1), False)]
_cases = [(stream, examples, threshold, cfg.batch_size),
          ([0, 1, 3, 4, 2, 5, 0, 1, 3, 4], _toy, 5, 2),      # two sentences share the rare piece 90
          ([2, 3, 4, 5], _toy, 5, 2),                          # a sentence holding its rare piece twice
          ([3, 4, 5, 3, 4], _toy, 2, 2),                       # nothing is rare under the threshold
          ([0, 1, 0, 1], _toy, 5, 2),                          # only conflicting sentences: no batch at all
          ([], _toy, 5, 2)]                                    # an empty stream
for _stream, _examples, _threshold, _size in _cases:
    _batches = my_stratify(list(_stream), _examples, _threshold, _size)
    _problem = _stratify_problem(_batches, _stream, _examples, _threshold, _size)
    assert _problem is None, say(f"stratify-yourself: on the stream {list(_stream)[:10]}"
                                 f"{' ...' if len(_stream) > 10 else ''} (threshold {_threshold}, batch size {_size}): "
                                 f"{_problem}",
                                 f"stratify-yourself: con el stream {list(_stream)[:10]}"
                                 f"{' ...' if len(_stream) > 10 else ''} (umbral {_threshold}, tamaño de batch "
                                 f"{_size}): {_problem}")
assert my_stratify(stream, examples, threshold, cfg.batch_size), say(
    "stratify-yourself: the broken run's stream gives no batch",
    "stratify-yourself: el stream de la ejecución broken no da ningún batch")

# %%
mine_batches = my_stratify(stream, examples, threshold, cfg.batch_size)
theirs = data_order.stratify(stream, examples, threshold, cfg.batch_size)
print(f"yours: {len(mine_batches)} batches, {sum(map(breaks_rule, mine_batches))} break the rule; "
      f"utils.spikelab.data_order.stratify: {len(theirs)} batches; identical: {mine_batches == theirs}")

# %% [markdown]
# ### Exercise 2: write the §6 expectations yourself
#
# Write at least two expectations (strings like `"post_event_ratio < 1.1"`; metrics are keys of
# `utils.spikelab.symptoms.compute`) that **pass** on `control-mixed-shard` and **fail** on `broken`,
# `clip-0.5` and `retokenized`. Then, if they differ from what your saved post-mortem says, put them
# into §6 of your post-mortem in `04-post-mortem` and save it again.
#
# 🇪🇸 **Español.** Escribe al menos dos expectativas que **se cumplan** en `control-mixed-shard` y
# **fallen** en `broken`, `clip-0.5` y `retokenized`. Si difieren de las de tu post-mortem, ponlas
# en su §6 y vuelve a guardarlo.

# %% tags=["stub"] exercise="write-expectations"
my_expectations = exercise_todo("write-expectations", say("write §6 expectations like 'post_event_ratio < 1.1'",
                                                          "escribe expectativas de la §6 como 'post_event_ratio < 1.1'"))

# %% tags=["solution"] exercise="write-expectations"
my_expectations = ["heldout_rise_sigma < 5", "post_event_ratio < 1.1"]

# %% tags=["check"] exercise="write-expectations"
from utils.text import say

mine_checks = {name: verification.check_expectations(my_expectations, results[name], tolerance=0.05)
               for name in ["control-mixed-shard", "broken", "clip-0.5", "retokenized"]}
assert len(my_expectations) >= 2, say("write-expectations: write at least two expectations",
                                      "write-expectations: escribe al menos dos expectativas")
assert not any(r.note.startswith("no metric") for rows in mine_checks.values() for r in rows), say(
    "write-expectations: a metric is not a key of utils.spikelab.symptoms.compute",
    "write-expectations: una métrica no es una clave de utils.spikelab.symptoms.compute")
assert verification.all_passed(mine_checks["control-mixed-shard"]), say("write-expectations: the fix must pass",
                                                                        "write-expectations: el remedio debe pasar")
assert not any(verification.all_passed(mine_checks[n]) for n in ["broken", "clip-0.5", "retokenized"]), say(
    "write-expectations: broken, clip-0.5 and retokenized must each fail at least one expectation",
    "write-expectations: broken, clip-0.5 y retokenized deben fallar cada una al menos una expectativa")

# %%
mine_checks = {name: verification.check_expectations(my_expectations, results[name], tolerance=0.05)
               for name in ["control-mixed-shard", "broken", "clip-0.5", "retokenized"]}
print(verification.format_matrix(mine_checks))

# %% [markdown]
# ## Summary
#
# The post-mortem's §5 (shuffle the shard in) is verified by its §6 on a rerun with seed 42, in
# every run we measured. The data-order fix `stratified-covering` cuts the damage to a fraction in
# every run but passes §6 only in some: too little margin. Clipping harder,
# stratifying with a threshold that misses the piece, a larger embedding init and retokenizing all
# fail: each leaves the run of same-kind batches in place. If your own §6 passed on the broken run, or failed on the fix, go back
# to `04-post-mortem` and sharpen it.
#
# 🇪🇸 **Español.** La §5 del post-mortem (barajar el shard) queda verificada por su §6 en una repetición
# con la semilla 42, en todas las ejecuciones medidas; `stratified-covering` reduce el daño a una
# fracción pero pasa la §6 solo en algunas. Bajar el clip, estratificar con un umbral que no cubre la
# pieza, una inicialización mayor y retokenizar fallan: todos dejan en su sitio la racha de batches del
# mismo tipo. Si tu §6 pasó en la ejecución rota o falló en el arreglo, vuelve a `04-post-mortem` y
# afínala.

# %% [markdown]
# ## Your lesson from this notebook
#
# Write the one thing from this notebook that you would do differently next time, in one line,
# and press **Save lesson**. It is appended, dated and tagged with this notebook (`notebook 19.05`), to
# `learners/<you>/phase-19/notes/lessons.md`; the grader looks for one lesson per notebook.
#
# 🇪🇸 **Español.** Escribe en una línea lo que harías distinto la próxima vez tras este cuaderno y pulsa
# **Guardar lección**. Se añade, con la fecha y la etiqueta de este cuaderno (`notebook 19.05`), a
# `learners/<tú>/phase-19/notes/lessons.md`; el corrector busca una lección por cuaderno.

# %% tags=["nbval-ignore-output"]
from utils.course.lesson_box import lesson_box

lesson_box("19.05")
