# ---
# jupyter:
#   course:
#     nbval: strict
# ---

# %% [markdown]
# # Phase 17 · 1 — The corpus and the BPE tokenizer
#
# The running example of this course is the **§A13 grammar tutor**: a small GPT trained on
# short English sentences. Before any training, two choices already decide where its loss
# spike will come from: **which sentences** it reads and **how they are cut into tokens**.
# This notebook builds both, step by step, with the course's own code (`utils/spikelab/corpus.py`,
# `utils/spikelab/bpe.py`). Nothing here is trained with gradients, so every output is exactly
# reproducible.
#
# By the end you will know why one token, `tten`, is seen only
# <span data-run="facts" data-key="headline_count_base">5</span> times in the whole training
# corpus, and why that is not an accident of the data but a consequence of how BPE works.
#
# 🇪🇸 **Español.** El ejemplo de todo el curso es el **tutor de gramática §A13**: un GPT pequeño
# entrenado con frases cortas en inglés. Antes de entrenar, dos decisiones ya determinan de
# dónde saldrá el pico de la pérdida: **qué frases** lee y **cómo se cortan en tokens**. Este
# cuaderno construye ambas cosas paso a paso con el código del curso. Al final sabrás por qué
# el token `tten` aparece solo 5 veces en todo el corpus de entrenamiento.

# %%
from collections import Counter
from pathlib import Path

import utils
from utils.spikelab import corpus
from utils.spikelab.bpe import MARK, SPECIALS, BPETokenizer
from utils.spikelab.data_order import headline_piece, rare_pieces, tokenizer
from utils.course.exercises import exercise_todo
from utils.text import say

DATA = Path(utils.__file__).resolve().parent.parent / "data"   # the shipped text files

# %% [markdown]
# ## 1. How the sentences are made
#
# Every sentence is *subject + verb phrase + object + "."*. There are 14 subjects, 17 verbs and
# 5 tenses (present, past, progressive, future, present perfect), so the grid holds
# 14 × 17 × 5 = 1190 sentences. One cell of the grid is special: the **present perfect of
# *write* and *bite*** ("has written", "have bitten"). Those sentences are kept out of the
# ordinary pool; they are the **rare** sentences. (*eat* loses its present perfect too:
# "eaten" would share the ending "-ten" with the rare words and make it common.)
#
# 🇪🇸 **Español.** Cada frase es *sujeto + verbo + objeto + "."*: 14 sujetos × 17 verbos ×
# 5 tiempos = 1190 frases. El pretérito perfecto de *write* y *bite* ("has written",
# "have bitten") se aparta: son las frases **raras**. *eat* también pierde su pretérito
# perfecto, porque "eaten" compartiría la terminación "-ten" con las palabras raras.

# %%
print(f"{len(corpus.SUBJECTS)} subjects × {len(corpus.VERBS)} verbs × {len(corpus.TENSES)} tenses "
      f"= {len(corpus.SUBJECTS) * len(corpus.VERBS) * len(corpus.TENSES)} sentences in the grid")
print("tenses:", corpus.TENSES)
for tense in corpus.TENSES:
    print(f"  {tense:16} {corpus.sentence('the cat', True, 'bite', tense)}")
print("ordinary pool:", len(corpus._ordinary_pool()), "sentences;",
      "rare pool (present perfect of write/bite):", len(corpus._rare_pool()))

# %% [markdown]
# From these pools a fixed random split (seed 0) makes three lists:
#
# | list | size | what is in it |
# |---|---|---|
# | `base_train()` | <span data-run="facts" data-key="n_train">240</span> | 235 ordinary sentences + **5 rare** ones (3 "written", 2 "bitten") |
# | `extra_rare()` | <span data-run="facts" data-key="n_extra_rare">15</span> | more rare sentences (9 "written", 6 "bitten"): the **late shard** of the broken run adds them |
# | `heldout()` | <span data-run="facts" data-key="n_heldout">200</span> | ordinary sentences the model never trains on, none of them rare |
#
# `python -m utils.corpus` writes them to `data/train.txt`, `data/extra_rare.txt` and
# `data/heldout.txt`, one sentence per line, so you can read them in any editor. The cell
# below checks that the shipped files are exactly what the generator produces.
#
# 🇪🇸 **Español.** Un reparto aleatorio fijo crea tres listas: 240 frases de entrenamiento (5 de ellas
# raras), 15 frases raras extra (el shard tardío de la ejecución rota) y 200 frases de validación sin
# ninguna rara. Los ficheros de `data/` contienen exactamente esas listas.

# %%
lists = {"train.txt": corpus.base_train(), "extra_rare.txt": corpus.extra_rare(),
         "heldout.txt": corpus.heldout()}
for name, sentences in lists.items():
    shipped = (DATA / name).read_text(encoding="utf-8").splitlines()
    assert shipped == sentences, f"data/{name} differs from the generator: run python -m utils.corpus"
    n_rare = sum(corpus.is_rare(s) for s in sentences)
    print(f"data/{name:15} {len(sentences):4} sentences, {n_rare:2} rare   e.g. {sentences[0]!r}")

train = corpus.base_train()
print("\nthe rare training sentences:")
for s in train:
    if corpus.is_rare(s):
        print("  ", s)
assert sum(corpus.is_rare(s) for s in train) == 5 and len(train) == 240
assert all(corpus.is_rare(s) for s in corpus.extra_rare()) and len(corpus.extra_rare()) == 15
assert not any(corpus.is_rare(s) for s in corpus.heldout())

# %% [markdown]
# ## 2. Byte-pair encoding, by hand
#
# BPE starts from single characters. Every word gets a word-start marker `▁` glued to its first
# character, so `written` begins as `▁ w r i t t e n`. Then, repeatedly:
#
# 1. count every pair of neighbouring symbols inside words, weighting each word by how often
#    it occurs in the corpus;
# 2. merge the most frequent pair everywhere (ties: the pair whose joined text sorts first);
# 3. stop when the best pair occurs fewer than `min_count` = 4 times.
#
# Below are the two building blocks, written out. `utils/spikelab/bpe.py` does exactly the same.
#
# 🇪🇸 **Español.** BPE parte de caracteres sueltos, con la marca de inicio de palabra `▁`. Luego,
# una y otra vez: cuenta los pares de símbolos vecinos (ponderados por la frecuencia de cada
# palabra), fusiona el par más frecuente y para cuando el mejor par aparece menos de 4 veces.

# %%
word_counts = Counter(w for s in train for w in s.split())        # "written" → 3
start = {w: tuple(MARK + w) for w in sorted(word_counts)}          # "written" → ('▁','w','r','i','t','t','e','n')


def count_pairs(segs: dict[str, tuple[str, ...]]) -> Counter:
    """How often each pair of neighbouring symbols occurs, weighted by word frequency."""
    pairs: Counter = Counter()
    for w, syms in segs.items():
        for a, b in zip(syms, syms[1:]):
            pairs[a, b] += word_counts[w]
    return pairs


def apply_merge(segs: dict[str, tuple[str, ...]], pair: tuple[str, str]) -> dict[str, tuple[str, ...]]:
    """Replace every occurrence of ``pair`` (left to right, no overlaps) by the joined symbol."""
    out = {}
    for w, syms in segs.items():
        new, i = [], 0
        while i < len(syms):
            if i + 1 < len(syms) and (syms[i], syms[i + 1]) == pair:
                new.append(syms[i] + syms[i + 1])
                i += 2
            else:
                new.append(syms[i])
                i += 1
        out[w] = tuple(new)
    return out


print(f"{len(word_counts)} distinct words, {sum(word_counts.values())} words in all")
print("most frequent pairs at the start:")
for (a, b), n in sorted(count_pairs(start).items(), key=lambda kv: (-kv[1], kv[0][0] + kv[0][1]))[:6]:
    print(f"  {a + ' + ' + b:10} {n}")

# %% [markdown]
# ### Exercise 1 — one merge step
#
# Put the two blocks together: write `merge_step(segs)` that returns `(pair, count, new_segs)`
# for the best pair (highest count; among equal counts, the pair whose joined text `a + b`
# sorts first, then the pair itself), or `None` when the best count is below 4 (or there is
# no pair left). The check runs your function 10 times from `start` and compares with the
# course tokenizer's first 10 merges, then checks that it stops at the end.
#
# 🇪🇸 **Español.** Ejercicio 1: escribe `merge_step(segs)`, que devuelve `(par, cuenta, nuevos_segs)`
# para el mejor par (desempate: el texto `a + b` menor), o `None` si la mejor cuenta es menor que 4.

# %% tags=["stub"] exercise="bpe-merge-step"
def merge_step(segs):
    return exercise_todo("bpe-merge-step", say("count the pairs, pick the best one, merge it (or return None)",
                                               "cuenta los pares, elige el mejor y fusiónalo (o devuelve None)"))

# %% tags=["solution"] exercise="bpe-merge-step"
def merge_step(segs):
    pairs = count_pairs(segs)
    if not pairs:
        return None
    best = min(pairs, key=lambda p: (-pairs[p], p[0] + p[1], p))
    if pairs[best] < 4:
        return None
    return best, pairs[best], apply_merge(segs, best)

# %% tags=["check"] exercise="bpe-merge-step"
from utils.text import say

_tok, _segs = tokenizer(), start
for _k in range(10):
    _pair, _count, _segs = merge_step(_segs)
    assert _pair == _tok.merges[_k], say(f"bpe-merge-step: merge {_k + 1} should be {_tok.merges[_k]}, got {_pair}",
                                         f"bpe-merge-step: la fusión {_k + 1} debería ser {_tok.merges[_k]}, "
                                         f"tu paso da {_pair}")
_final = {w: tuple(_tok.split_word(w)) for w in start}
assert merge_step(_final) is None, say("bpe-merge-step: after the last merge your step should return None",
                                      "bpe-merge-step: tras la última fusión tu paso debería devolver None")

# %% [markdown]
# ## 3. Replaying the whole training
#
# Now run the step until it stops, remembering the count of every merge when it was made,
# and check that the result is the course tokenizer (`utils.spikelab.data_order.tokenizer()`, which
# calls `BPETokenizer.train(base_train())`).
#
# 🇪🇸 **Español.** Ahora repetimos el paso hasta que se detiene, guardamos la cuenta de cada
# fusión y comprobamos que el resultado es el tokenizador del curso.

# %%
segs, history = start, []          # history[k] = (pair, count) of merge number k + 1
while len(history) < 1000 and (result := merge_step(segs)) is not None:   # 1000: a safety stop
    pair, count, segs = result
    history.append((pair, count))

tok = tokenizer()
assert [p for p, _ in history] == tok.merges
print(f"{len(history)} merges; vocabulary = {len(SPECIALS)} specials + "
      f"{len(tok.vocab) - len(SPECIALS) - len(tok.merges)} characters + {len(tok.merges)} merged pieces "
      f"= {len(tok.vocab)} pieces")
print("the first 12 merges:")
for k, ((a, b), n) in enumerate(history[:12], start=1):
    print(f"  {k:3}. {a + ' + ' + b:10} → {a + b:6} ({n} times)")

# %% [markdown]
# The tokenizer ends with <span data-run="facts" data-key="n_merges">206</span> merges and a
# vocabulary of <span data-run="facts" data-key="vocab_size">233</span> pieces. Early merges
# are the frequent bits of English (`h + e`, `▁ + t`, `▁t + he`). Merge 7 is already `t + t`:
# look at where it comes from.
#
# 🇪🇸 **Español.** El tokenizador termina con 206 fusiones y 233 piezas. Las primeras fusiones son
# trozos frecuentes del inglés; la séptima ya es `t + t`: veamos de dónde sale.

# %% [markdown]
# ## 4. How "written" becomes ▁w + ri + tten
#
# The next cell follows a few words through the merges and prints each merge that changes them.
# Watch the double `t`:
#
# 🇪🇸 **Español.** La celda siguiente sigue unas palabras a través de las fusiones e imprime cada
# fusión que las cambia. Fíjate en la doble `t`.

# %%
def trace(word: str) -> list[tuple[int, str]]:
    """(merge number, pieces) each time a merge changes ``word``; merge 0 = characters."""
    syms, out = tuple(MARK + word), [(0, " ".join(MARK + word))]
    for k, (pair, _) in enumerate(history, start=1):
        new = apply_merge({word: syms}, pair)[word]
        if new != syms:
            syms = new
            out.append((k, " ".join(syms)))
    return out


for word in ["written", "bitten", "little", "letter", "butter", "writing"]:
    print(f"{word:8} (×{word_counts[word]:2}): " + "  →  ".join(f"[{k}] {s}" for k, s in trace(word)))

tt_words = {w: n for w, n in sorted(word_counts.items()) if "tt" in w}
print("\nwords with a double t:", tt_words, "→ t + t occurs", count_pairs(start)["t", "t"], "times")
print("count of each merge when it was made:",
      {a + b: n for (a, b), n in history if a + b in ("tt", "ttle", "tter", "en", "ri", "tten")})
assert tok.split_word("written") == ["▁w", "ri", "tten"] and tok.split_word("bitten") == ["▁bi", "tten"]
assert dict(history)["tt", "en"] == 5 and history.index((("tt", "en"), 5)) > 150

# %% [markdown]
# Read the story in the output:
#
# - `t + t` is merged early (merge 7) because **little, bottle, kettle, letter and butter** are
#   frequent: together they hold almost every double `t` of the corpus.
# - Soon after, `tt + le` (little, bottle, kettle) and later `tt + er` (letter, butter) swallow
#   those `tt`s into bigger pieces. The common words **steer the merges**: they decide which
#   pieces exist.
# - What is left of `tt` lives only in *written* and *bitten*. Their `tt + en` is merged very
#   late, when the best pair left has only 5 occurrences, just above the stopping count of 4.
# - `ri` and `▁w` survive in *written* because every other word that starts with `w` or holds
#   `ri` was merged into something else (`▁will`, `▁we`, `▁wr`, `▁friend`, `▁carried`, ...).
#
# So <span data-run="facts" data-key="written_pieces">▁w ri tten</span> and
# <span data-run="facts" data-key="bitten_pieces">▁bi tten</span>: four pieces,
# <span data-run="facts" data-key="rare_pieces">▁bi ri ▁w tten</span>, that occur **only** in the
# 5 rare training sentences.
#
# 🇪🇸 **Español.** `t + t` se fusiona pronto porque *little, bottle, kettle, letter* y *butter* son
# frecuentes; después `tt + le` y `tt + er` se llevan esas `tt`. Lo que queda de `tt` solo vive
# en *written* y *bitten*, y `tt + en` se fusiona muy tarde, con solo 5 apariciones. Las
# palabras comunes **dirigen las fusiones**. Resultado: cuatro piezas que solo aparecen en las
# 5 frases raras.

# %% [markdown]
# ## 5. Piece counts: how rare is rare?
#
# Counting the pieces of the tokenized training corpus shows the consequence. The headline
# piece of the course, <span data-run="facts" data-key="headline_piece">tten</span>, occurs
# <span data-run="facts" data-key="headline_count_base">5</span> times in 240 sentences; with
# the 15 extra rare sentences of the late shard it occurs
# <span data-run="facts" data-key="headline_count_shard">20</span> times. The model's
# embedding row of `tten` therefore receives a gradient in very few steps of training, and in
# the broken run none at all before step 312.
#
# 🇪🇸 **Español.** El token protagonista del curso, `tten`, aparece 5 veces en 240 frases; con las 15
# frases raras extra del shard tardío, 20 veces. Su fila de embedding casi nunca recibe gradiente, y en
# la ejecución rota ninguno antes del paso 312.

# %%
counts = tok.piece_counts(train)
with_shard = tok.piece_counts(train + corpus.extra_rare())
print(f"{sum(counts.values())} pieces in the training corpus, {len(counts)} different ones")
print("most common:", ", ".join(f"{p} {n}" for p, n in counts.most_common(6)))
print("the rare pieces (only in written/bitten):")
for p in rare_pieces(tok):
    print(f"  {p:5} {counts[p]:3} in train, {with_shard[p]:3} with the shard")
assert headline_piece(tok) == "tten" and counts["tten"] == 5 and with_shard["tten"] == 20
assert rare_pieces(tok) == ["▁bi", "ri", "▁w", "tten"]

# %% [markdown]
# Would a stricter tokenizer make the rare words less rare? Train it again with `min_count = 6`
# (so the `tt + en` merge, with only 5 occurrences, is not made):
#
# 🇪🇸 **Español.** ¿Un tokenizador más estricto haría menos raras las palabras raras? Lo entrenamos
# con `min_count = 6`, de modo que `tt + en` (5 apariciones) no se fusiona:

# %%
strict = BPETokenizer.train(train, min_count=6)
strict_counts = strict.piece_counts(train)
for word in ["written", "bitten"]:
    print(f"{word}: " + " ".join(f"{p}({strict_counts[p]})" for p in strict.split_word(word)))
assert max(strict_counts[p] for p in strict.split_word("written")) == 5

# %% [markdown]
# The rare words are still cut into pieces that nobody else uses (`tt` and `en` now, 5 times
# each). Whatever the threshold, BPE leaves the **leftovers** of rare words as rare pieces:
# the common words have taken everything else. That is the seed of the §A13 spike.
#
# 🇪🇸 **Español.** Las palabras raras siguen cortadas en piezas que nadie más usa. Sea cual sea el
# umbral, BPE deja los **restos** de las palabras raras como piezas raras: las palabras comunes
# se han quedado con todo lo demás. Esa es la semilla del pico §A13.

# %% [markdown]
# ### Exercise 2 — the pieces rarer than 10
#
# Phase 19 tries a remedy that spreads "rare" pieces over batches, with *rare* meaning "fewer
# than 10 occurrences in the training corpus". Build `under_10`: the sorted list of every piece
# that occurs fewer than 10 times in `train` (use `tok.piece_counts`). Then look at your list
# and answer the question below it.
#
# 🇪🇸 **Español.** Ejercicio 2: construye `under_10`, la lista ordenada de las piezas que aparecen
# menos de 10 veces en `train`. Luego mira tu lista y responde a la pregunta de debajo.

# %% tags=["stub"] exercise="pieces-under-10"
under_10 = exercise_todo("pieces-under-10", say("list (sorted) the pieces that occur fewer than 10 times in train",
                                                "lista (ordenadas) las piezas que aparecen menos de 10 veces en train"))

# %% tags=["solution"] exercise="pieces-under-10"
under_10 = sorted(p for p, n in tok.piece_counts(train).items() if n < 10)
print(len(under_10), "pieces occur fewer than 10 times, e.g.", under_10[:8])

# %% tags=["check"] exercise="pieces-under-10"
from utils.text import say

_c = tokenizer().piece_counts(corpus.base_train())
assert under_10 == sorted(p for p in _c if _c[p] < 10), say("pieces-under-10: compare each piece's count with 10",
                                                            "pieces-under-10: compara con 10 el recuento de cada pieza")
assert set(rare_pieces()) <= set(under_10), say("pieces-under-10: the four rare pieces must be in your list",
                                                "pieces-under-10: las cuatro piezas raras deben estar en tu lista")

# %% [markdown]
# ### Question — is rare the same as dangerous?
#
# Pick an option and press **Check**; the feedback says why each option is right or wrong, and
# your answer is recorded in your notes for the grader (you may answer again: the last answer
# counts).
#
# 🇪🇸 **Español.** Elige una opción y pulsa **Comprobar**: la explicación dice por qué cada opción es
# correcta o no, y tu respuesta se guarda en tus notas para el corrector (puedes responder otra
# vez: cuenta la última).

# %%
from utils.course.choice import Choice

rare_q = Choice("17.01", "rare-is-not-untrained", say(
    "Is every piece in under_10 a piece of a rare word (written, bitten)?",
    "¿Es cada pieza de under_10 una pieza de una palabra rara (written, bitten)?"), options={
    "a": (say("Yes: only the rare words leave pieces that rare.",
              "Sí: solo las palabras raras dejan piezas tan raras."),
          say("Look at your list again: it holds whole ordinary words such as ▁cooked. A word that occurs a few "
              "times and is merged whole becomes a piece that occurs a few times.",
              "Mira otra vez tu lista: contiene palabras normales enteras como ▁cooked. Una palabra que aparece "
              "pocas veces y se fusiona entera es una pieza que aparece pocas veces.")),
    "b": (say("No: pieces of ordinary words are just as rare, so a count alone cannot single out the "
              "dangerous piece.",
              "No: hay piezas de palabras normales igual de raras, así que la cuenta sola no señala la "
              "pieza peligrosa."),
          say("Most of the list are ordinary pieces. What will make tten dangerous in Phase 19 is not its "
              "count but that its embedding row has never been trained when a batch full of it arrives.",
              "La mayor parte de la lista son piezas normales. Lo que hará peligrosa a tten en la Fase 19 no "
              "es su cuenta, sino que su fila de embedding nunca se ha entrenado cuando llega un batch lleno "
              "de ella.")),
    "c": (say("No, but every ordinary piece in it occurs more often than tten (5 times).",
              "No, pero cada pieza normal de la lista aparece más veces que tten (5)."),
          say("Count them: several ordinary pieces occur 5 times or fewer (the cell after the question "
              "prints some). tten is not even the rarest piece.",
              "Cuéntalas: varias piezas normales aparecen 5 veces o menos (la celda tras la pregunta "
              "imprime algunas). tten ni siquiera es la pieza más rara.")),
}, right="b")

# %% tags=["stub"] exercise="rare-is-not-untrained"
rare_q   # choose an option and press Check / elige una opción y pulsa Comprobar

# %% tags=["solution"] exercise="rare-is-not-untrained"
rare_q.choose("b")

# %%
ordinary_rare = [p for p in under_10 if p not in rare_pieces(tok)]
print(f"{len(ordinary_rare)} of the {len(under_10)} are pieces of ordinary words, e.g.",
      ", ".join(f"{p} ×{counts[p]}" for p in [q for q in ordinary_rare if counts[q] <= 5][:8]))
assert len(ordinary_rare) >= 24

# %% [markdown]
# No: dozens of ordinary pieces (`▁cooked`, `▁drank`, ...) are just as rare as `tten`. A
# count alone does not tell the dangerous piece from a harmless one; what matters is whether
# the piece's embedding has **ever been trained** when a batch full of it arrives. That is
# what Phases 18 and 19 are about.
#
# 🇪🇸 **Español.** No: decenas de piezas normales son tan raras como `tten`. La cuenta sola no distingue
# la pieza peligrosa; importa si su embedding **se ha entrenado alguna vez** cuando llega un batch lleno
# de ella. De eso tratan las Fases 18 y 19.

# %% [markdown]
# ## Your lesson from this notebook
#
# Write the one thing from this notebook that you would do differently next time, in one line,
# and press **Save lesson**. It is appended, dated and tagged with this notebook (`notebook 17.01`), to
# `learners/<you>/phase-17/notes/lessons.md`; the grader looks for one lesson per notebook.
#
# 🇪🇸 **Español.** Escribe en una línea lo que harías distinto la próxima vez tras este cuaderno y pulsa
# **Guardar lección**. Se añade, con la fecha y la etiqueta de este cuaderno (`notebook 17.01`), a
# `learners/<tú>/phase-17/notes/lessons.md`; el corrector busca una lección por cuaderno.

# %% tags=["nbval-ignore-output"]
from utils.course.lesson_box import lesson_box

lesson_box("17.01")
