"""What Phases 17 and 18 teach, checked on the course's real code.

Phase 17: the corpus (and its shipped text files), the BPE split of the rare words and their
piece counts, the healthy baseline. Phase 18: the warmup + cosine schedule and Adam's
effective step (``utils.spikelab.optim_view``) read from real optimizer steps.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from utils.spikelab import corpus, data_order, metrics, optim_view
from utils.spikelab.bpe import BPETokenizer
from utils.spikelab.config import CANONICAL, config_for
from utils.spikelab.schedule import lr_at, lr_with_jump
from utils.spikelab.train import TrainingRun

REPO = Path(__file__).resolve().parent.parent
PEAK, WARMUP, TOTAL = CANONICAL.peak_lr, CANONICAL.warmup, CANONICAL.total_steps


# --- Phase 17: corpus ------------------------------------------------------------------------

def test_shipped_data_files_equal_the_generator(tmp_path):
    written = corpus.write_text_files(tmp_path)
    assert [p.name for p in written] == ["train.txt", "extra_rare.txt", "heldout.txt"]
    for path in written:
        shipped = REPO / "data" / path.name
        assert shipped.exists(), f"data/{path.name} is missing: run python -m utils.corpus"
        assert shipped.read_bytes() == path.read_bytes(), f"data/{path.name} differs: run python -m utils.corpus"


def test_corpus_sizes_and_where_the_rare_sentences_are():
    train, extra, held = corpus.base_train(), corpus.extra_rare(), corpus.heldout()
    assert (len(train), len(extra), len(held)) == (240, 15, 200)
    assert sum(corpus.is_rare(s) for s in train) == 5
    assert all(corpus.is_rare(s) for s in extra)
    assert not any(corpus.is_rare(s) for s in held)
    assert not set(train) & set(held)
    assert not any("eaten" in s for s in train + held)     # "eaten" would share "-ten"


# --- Phase 17: BPE -----------------------------------------------------------------------------

def test_the_rare_words_split_into_rare_pieces():
    tok = data_order.tokenizer()
    assert tok.split_word("written") == ["▁w", "ri", "tten"]
    assert tok.split_word("bitten") == ["▁bi", "tten"]
    assert data_order.rare_pieces(tok) == ["▁bi", "ri", "▁w", "tten"]
    assert data_order.headline_piece(tok) == "tten"
    assert (len(tok.merges), len(tok.vocab)) == (206, 233)


def test_tten_occurs_5_times_in_train_and_20_with_the_shard():
    tok = data_order.tokenizer()
    assert tok.piece_counts(corpus.base_train())["tten"] == 5
    assert tok.piece_counts(corpus.base_train() + corpus.extra_rare())["tten"] == 20
    shard = data_order.piece_counts(data_order.examples_for(config_for("broken")))
    assert shard[tok.vocab["tten"]] == 20


def test_common_tt_words_take_the_early_merges_and_tten_comes_last():
    merges = data_order.tokenizer().merges
    order = {a + b: k for k, (a, b) in enumerate(merges)}
    assert order["tt"] < 10 and order["ttle"] < 15        # little / bottle / kettle
    assert order["tt"] < order["tter"] < order["tten"]
    assert order["tten"] > 150                             # merged only near the end (count 5)


def test_a_stricter_tokenizer_still_leaves_rare_pieces():
    train = corpus.base_train()
    strict = BPETokenizer.train(train, min_count=6)
    counts = strict.piece_counts(train)
    assert "tten" not in strict.vocab
    assert strict.split_word("written") == ["▁w", "ri", "tt", "en"]
    assert max(counts[p] for p in strict.split_word("written")) == 5


# --- Phase 17: the healthy baseline -------------------------------------------------------------

def test_healthy_run_learns_and_heldout_is_below_1_5_at_step_400():
    run = TrainingRun(config_for("healthy"))
    start = run.heldout_loss()
    for _ in range(401):                  # steps 0..400; the held-out is read after step 400
        run.step(instrument=False)
    ema = metrics.ema(run.log.steps["loss"])
    assert start > 5.0                    # about ln(233) before training
    assert ema[400] < ema[200] < ema[50] < ema[0]
    assert run.heldout_loss() < 1.5


# --- Phase 18: schedule -------------------------------------------------------------------------

def test_lr_at_endpoints_and_shape():
    lrs = [lr_at(s, PEAK, WARMUP, TOTAL) for s in range(TOTAL + 50)]
    assert math.isclose(lrs[0], PEAK / WARMUP)
    assert math.isclose(lrs[WARMUP - 1], PEAK) and math.isclose(lrs[WARMUP], PEAK)
    assert lrs[TOTAL] == 0.0 and lrs[-1] == 0.0
    assert all(a < b for a, b in zip(lrs[:WARMUP - 1], lrs[1:WARMUP]))
    assert all(a >= b for a, b in zip(lrs[WARMUP:], lrs[WARMUP + 1:]))
    assert math.isclose(lr_at(WARMUP + (TOTAL - WARMUP) // 2, PEAK, WARMUP, TOTAL), PEAK / 2)
    assert 0.95 * PEAK < lrs[312] < PEAK                   # the spike step is near the peak


def test_lr_with_jump_jumps_tenfold_then_follows_lr_at():
    jump = [lr_with_jump(s, PEAK, WARMUP, TOTAL, 0.1) for s in range(TOTAL)]
    assert math.isclose(jump[WARMUP] / jump[WARMUP - 1], 10.0)
    assert jump[WARMUP:] == [lr_at(s, PEAK, WARMUP, TOTAL) for s in range(WARMUP, TOTAL)]


# --- Phase 18: Adam's effective step --------------------------------------------------------------

def test_effective_step_predicts_the_real_parameter_change():
    run = TrainingRun(config_for("healthy"))
    for _ in range(5):
        run.step(instrument=False)
    old = {id(p): p.detach().clone() for p in run.params}
    run.step(instrument=False)
    for p in run.params:
        group = optim_view.group_of(run.opt, p)
        predicted = old[id(p)] * (1 - group["lr"] * group["weight_decay"]) - optim_view.effective_step(run.opt, p)
        assert torch.allclose(predicted, p.detach(), atol=1e-7, rtol=0)


def test_first_step_of_a_fresh_adam_moves_every_weight_by_lr():
    run = TrainingRun(config_for("healthy"))
    run.step(instrument=False)
    for p in run.params:
        ratio = optim_view.adam_ratio(run.opt, p)
        strong = p.grad.abs() > 1e-5                      # far above eps
        assert torch.allclose(ratio[strong].abs(), torch.ones(int(strong.sum())), atol=1e-3)


def test_adam_ratio_ignores_the_gradient_scale_and_stays_bounded_on_a_real_run():
    run = TrainingRun(config_for("healthy"))
    for _ in range(30):
        run.step(instrument=False)
    before = {id(p): (run.opt.state[p]["exp_avg"].clone(), run.opt.state[p]["exp_avg_sq"].clone())
              for p in run.params}
    run.step(instrument=False)
    t = int(run.opt.state[run.params[0]]["step"])
    bound = optim_view.ratio_bound(t)
    ratios = torch.cat([optim_view.adam_ratio(run.opt, p).abs().flatten() for p in run.params])
    assert ratios.max() <= bound and ratios.median() < 1.0
    for p in run.params[:3]:
        m, v = before[id(p)]
        same = optim_view.ratio_with(m, v, t - 1, p.grad)      # p.grad: the clipped gradient that ran
        assert torch.allclose(same, optim_view.adam_ratio(run.opt, p), atol=1e-5)
        scaled = optim_view.ratio_with(m * 100, v * 100 ** 2, t - 1, p.grad * 100)
        assert torch.allclose(scaled, same, atol=1e-3)       # equal up to the ε term


def test_never_trained_rows_take_the_first_gradient_step():
    run = TrainingRun(config_for("broken", event_step=20, steps=21))
    for _ in range(20):
        run.step(instrument=False)
    W = run.model.tok_emb.weight
    state = run.opt.state[W]
    assert state["exp_avg"][run.rare_ids].abs().max() == 0 and state["exp_avg_sq"][run.rare_ids].abs().max() == 0
    run.step(instrument=False)                            # the first rare batch
    ratio = optim_view.adam_ratio(run.opt, W)[run.rare_ids].abs()
    expected = optim_view.first_gradient_ratio(21)
    assert ratio.mean().item() == pytest.approx(expected, abs=0.01)
    assert optim_view.first_gradient_ratio(313) == pytest.approx(1.64, abs=0.005)


def test_ratio_bound_is_reached_by_its_worst_gradient_history():
    b1, b2 = 0.9, 0.999
    for t in (1, 5, 50):
        w = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.AdamW([w], lr=1.0, betas=(b1, b2), eps=1e-12, weight_decay=0.0)
        for i in range(1, t + 1):                         # g_i ∝ (β1/β2)^(t−i): the Cauchy–Schwarz case
            w.grad = torch.tensor([(b1 / b2) ** (t - i)])
            opt.step()
        assert optim_view.adam_ratio(opt, w).item() == pytest.approx(optim_view.ratio_bound(t, (b1, b2)), rel=1e-4)
        assert optim_view.ratio_bound(t) >= optim_view.first_gradient_ratio(t)
    assert optim_view.ratio_bound(1) == pytest.approx(1.0) and optim_view.first_gradient_ratio(1) == pytest.approx(1.0)


def test_optim_view_refuses_parameters_it_cannot_read():
    w = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.AdamW([w])
    with pytest.raises(KeyError, match="not stepped"):
        optim_view.adam_ratio(opt, w)
    with pytest.raises(KeyError, match="not in the optimizer"):
        optim_view.group_of(opt, torch.nn.Parameter(torch.zeros(2)))
