"""The stability dashboard (utils.diagnosis.dashboard) on tiny hand-made run logs and one short real run."""
from __future__ import annotations

import math

import numpy as np
import pytest

from utils.diagnosis import dashboard
from utils.spikelab.runlog import STEP_COLUMNS, RunLog
from utils.spikelab.metrics import ema, first_nonfinite_step

PIECES = ["<s>", "▁the", "▁cat", "▁w", "ri", "tten", "▁sat"]
HEAD = PIECES.index("tten")
N = 60
SPIKE = 40


def tiny_log(n: int = N, spike: int | None = SPIKE, spike_loss: float = 9.0) -> RunLog:
    """A hand-made run: flat loss 1.0 with small wiggles, one obvious spike at ``spike``."""
    meta = {
        "run_id": "tiny", "config": {"warmup": 5}, "layers": ["embedding", "block0", "final_ln"],
        "pieces": PIECES, "headline_piece": "tten", "rare_pieces": ["▁w", "ri", "tten"],
        "clip": 1.0, "rare_example_ids": [100, 101],
    }
    log = RunLog(meta=meta)
    for s in range(n):
        rare = s == spike
        ids = [1, 2, 6, 0] + ([3, 4, 5, 5] if rare else [])
        losses = [0.5, 1.0, 1.5, 0.8] + ([12.0, 11.0, 14.0, 13.0] if rare else [])
        log.append({
            "loss": spike_loss if rare else 1.0 + 0.01 * (s % 3), "lr": 1e-3 * min(1.0, (s + 1) / 5),
            "grad_norm_preclip": 100.0 if rare else 2.0, "grad_norm_postclip": 1.0,
            "grad_norm_rare_rows": 99.0 if rare else 0.0,
            "act_mean_abs": [0.01, 1.0, 0.9],
            "adam_m_norm": 0.2, "adam_v_norm": 0.005, "adam_m_rare": 0.1 if rare else 0.0,
            "adam_v_rare": 1e-4 if rare else 0.0, "emb_norm_rare": 0.01,
            "batch_ids": [100, 101, 7, 8] if rare else [s, s + 1000],
            "batch_hash": f"h{s:03d}", "rare_count": 2 if rare else 0,
            "token_ids": ids, "token_losses": losses,
            "param_hash": f"p{s:03d}", "nonfinite_params": 0,
        })
    log.heldout = {"step": list(range(0, n, 8)), "loss": [1.1] * len(range(0, n, 8))}
    return log


def damaged_log() -> RunLog:
    """The tiny run with uninstrumented steps (None), a diverging tail (NaN/inf), a skipped
    step (same parameter hash), a repeated batch and two events."""
    log = tiny_log()
    for s in (10, 11):                       # not instrumented
        for c in STEP_COLUMNS:
            if c not in ("loss", "lr", "grad_norm_preclip", "grad_norm_postclip", "batch_ids"):
                log.steps[c][s] = None
    log.steps["param_hash"][21] = log.steps["param_hash"][20]     # step 21 was skipped
    log.steps["batch_hash"][30] = log.steps["batch_hash"][25]     # the same batch again
    log.steps["loss"][55] = math.inf
    log.steps["grad_norm_preclip"][55] = math.nan
    for s in range(56, N):
        log.steps["loss"][s] = math.nan
        log.steps["grad_norm_preclip"][s] = math.nan
        log.steps["nonfinite_params"][s] = 1000
        log.steps["token_losses"][s] = [math.nan] * len(log.steps["token_ids"][s])
    log.heldout["loss"][-1] = math.nan
    log.events = [{"step": 21, "kind": "skip"}, {"step": 45, "kind": "rollback", "to": 30}]
    return log


def vlines_at(ax, x: float) -> list:
    """Vertical lines of ``ax`` drawn at data x (axvline: two equal x values)."""
    return [ln for ln in ax.lines if len(ln.get_xdata()) == 2 and list(ln.get_xdata()) == [x, x]]


def test_panels_are_numbered_one_to_eight_and_match_the_postmortem_numbers():
    from utils import postmortem
    assert sorted(dashboard.PANELS) == list(range(1, 9))
    assert sorted(dashboard.PANELS) == sorted(postmortem.PANELS)
    assert dashboard.panel_title(1) == "1 · Loss and 50-step EMA"


def test_draw_default_has_all_eight_titled_panels():
    fig = dashboard.draw(tiny_log())
    assert len(fig.axes) == 8
    assert [ax.get_title(loc="left") for ax in fig.axes] == [dashboard.panel_title(n) for n in range(1, 9)]
    assert sorted(fig.panel_axes) == list(range(1, 9))


def test_the_figure_shows_itself_as_png_in_a_notebook():
    png = dashboard.draw(tiny_log(), panels=[1])._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("panels", [[1], [1, 3, 6], [7, 2], [8, 4, 5, 1, 2]])
def test_draw_selected_panels_in_the_given_order(panels):
    fig = dashboard.draw(tiny_log(), panels=panels)
    assert [ax.get_title(loc="left") for ax in fig.axes] == [dashboard.panel_title(n) for n in panels]


def test_draw_refuses_unknown_panels():
    with pytest.raises(ValueError, match="panels"):
        dashboard.draw(tiny_log(), panels=[1, 9])


def test_draw_puts_cursor_and_events_on_every_time_panel_of_a_damaged_run():
    log = damaged_log()
    fig = dashboard.draw(log, step=SPIKE)
    for n, ax in fig.panel_axes.items():
        if n == 7:
            assert not vlines_at(ax, SPIKE)
            continue
        assert vlines_at(ax, SPIKE), f"panel {n} lacks the cursor"
        assert vlines_at(ax, 21) and vlines_at(ax, 45), f"panel {n} lacks the event markers"
    # panel 8 marks the first non-finite step (the inf loss) and the skipped step (hash unchanged)
    ax8 = fig.panel_axes[8]
    assert vlines_at(ax8, 55)
    marked = [ln for ln in ax8.lines if ln.get_label() == "hash unchanged"]
    assert marked and list(marked[0].get_xdata()) == [21]
    # panel 1 marks the non-finite losses, panel 6 the repeated batch
    bad = [ln for ln in fig.panel_axes[1].lines if ln.get_label() == "non-finite loss"]
    assert list(bad[0].get_xdata()) == list(range(55, N))
    rep = [ln for ln in fig.panel_axes[6].lines if ln.get_label() == "repeated batch"]
    assert list(rep[0].get_xdata()) == [30]
    fig.canvas.draw()          # renders with NaN, inf and None in the columns


def test_draw_histogram_of_an_uninstrumented_or_nan_step_does_not_fail():
    log = damaged_log()
    for step in (10, 57):
        fig = dashboard.draw(log, panels=[7], step=step)
        fig.canvas.draw()
        texts = " ".join(t.get_text() for t in fig.axes[0].texts)
        assert ("not instrumented" in texts) if step == 10 else ("non-finite" in texts)


def test_window_limits_the_x_range_and_the_drawn_data():
    fig = dashboard.draw(tiny_log(), panels=[1, 3], step=SPIKE, window=(30, 50))
    ax = fig.panel_axes[1]
    assert ax.get_xlim() == (29.5, 50.5)
    loss_line = next(ln for ln in ax.lines if ln.get_label() == "loss")
    assert list(loss_line.get_xdata()) == list(range(30, 51))
    assert max(ln for ln in loss_line.get_ydata()) == 9.0


def test_histogram_highlights_the_headline_piece_tokens():
    log = tiny_log()
    ax = dashboard.draw(log, panels=[7], step=SPIKE).axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:3] == ["other tokens", "other rare pieces", "'tten'"]
    groups = dict(zip(legend, ax.containers))         # one bar container per stacked group
    head = groups["'tten'"]
    assert sum(p.get_height() for p in head.patches) == log.steps["token_ids"][SPIKE].count(HEAD) == 2
    rare = groups["other rare pieces"]
    assert sum(p.get_height() for p in rare.patches) == 2          # ▁w and ri


def test_step_summary_values_equal_the_log():
    log = tiny_log()
    s = dashboard.step_summary(log, SPIKE)
    assert s["step"] == SPIKE
    assert s["loss"] == 9.0 and s["lr"] == log.steps["lr"][SPIKE]
    assert s["ema"] == pytest.approx(ema(log.steps["loss"])[SPIKE - 1], rel=1e-3)
    assert s["loss_to_ema"] == pytest.approx(9.0 / ema(log.steps["loss"])[SPIKE - 1], rel=1e-3)
    assert (s["grad_norm_preclip"], s["grad_norm_postclip"], s["grad_norm_rare_rows"]) == (100.0, 1.0, 99.0)
    assert s["rare_rows_share"] == pytest.approx(0.99 ** 2, rel=1e-3)
    assert (s["adam_m_rare"], s["adam_v_rare"]) == (0.1, 1e-4)
    assert s["rare_count"] == 2 and s["shard_sentences"] == 2
    assert s["top_token_losses"] == [("tten", 14.0), ("tten", 13.0), ("▁w", 12.0)]
    assert s["batch_hash"] == f"h{SPIKE:03d}" and s["batch_repeated"] is False
    assert s["nonfinite_params"] == 0 and s["param_hash_changed"] is True
    assert (s["heldout_step"], s["heldout_loss"]) == (40, 1.1)
    assert s["events"] == []


def test_step_summary_rounds_to_four_significant_digits():
    log = tiny_log()
    log.steps["grad_norm_preclip"][3] = 215.64076232910156
    assert dashboard.step_summary(log, 3)["grad_norm_preclip"] == 215.6


def test_step_summary_of_damaged_steps():
    log = damaged_log()
    s10 = dashboard.step_summary(log, 10)
    assert s10["rare_count"] is None and s10["top_token_losses"] is None and s10["rare_rows_share"] is None
    assert dashboard.step_summary(log, 21)["param_hash_changed"] is False
    assert dashboard.step_summary(log, 21)["events"] == ["skip"]
    assert dashboard.step_summary(log, 30)["batch_repeated"] is True
    s57 = dashboard.step_summary(log, 57)
    assert math.isnan(s57["loss"]) and s57["nonfinite_params"] == 1000
    with pytest.raises(IndexError):
        dashboard.step_summary(log, N)


def test_largest_spike_finds_the_obvious_spike():
    assert dashboard.largest_spike(tiny_log()) == SPIKE
    assert dashboard.largest_spike(tiny_log(spike=23)) == 23


def test_largest_spike_falls_back_to_the_largest_ratio_when_find_spike_sees_none():
    log = tiny_log(spike=33, spike_loss=1.3)         # below find_spike's 1.5 threshold
    from utils.spikelab.symptoms import find_spike
    assert find_spike(log) is None
    assert dashboard.largest_spike(log) == 33
    del log.meta["config"]                            # find_spike would need the warmup
    assert dashboard.largest_spike(log) == 33


def test_largest_spike_of_a_diverging_run_is_the_first_nonfinite_loss():
    assert dashboard.largest_spike(damaged_log()) == 55


def test_helpers_read_the_log():
    log = damaged_log()
    assert dashboard.repeated_batches(log) == [30]
    assert dashboard.unchanged_param_steps(log) == [21]
    assert first_nonfinite_step(log) == 55             # what panel 8 marks (utils.spikelab.metrics)
    counts = dashboard.shard_counts(log)
    assert counts[SPIKE] == 2 and counts[SPIKE - 1] == 0
    assert np.isnan(dashboard.series(log, "rare_count")[10])


def test_dashboard_widget_headless():
    log = tiny_log()
    db = dashboard.Dashboard(log, panels=[1, 7])      # two panels keep the redraws quick
    assert db.step_slider.value == SPIKE and db.summary["step"] == SPIKE
    summary = db.show_step(12)
    assert summary == dashboard.step_summary(log, 12)
    assert vlines_at(db.figure.panel_axes[1], 12)
    db.spike_button.click()
    assert db.step_slider.value == SPIKE
    assert tuple(db.window_slider.value) == (0, N - 1)     # ±70 around 40, clamped to the run
    db.set_window(30, 50)
    assert db.figure.panel_axes[1].get_xlim() == (29.5, 50.5)
    db.whole_button.click()
    assert tuple(db.window_slider.value) == (0, N - 1)
    assert "loss_to_ema" in dashboard.format_summary(db.summary)
    image, text = db.output.outputs                       # the figure and the summary are shown
    assert image["data"]["image/png"].startswith("iVBOR")  # base64 of the PNG signature
    assert text["text"].splitlines()[0].split() == ["step", str(SPIKE)]


def test_draw_and_summary_on_a_short_real_run():
    from utils.spikelab.train import run_variant
    log = run_variant("broken", steps=40)
    fig = dashboard.draw(log, step=30)
    fig.canvas.draw()
    assert len(fig.axes) == 8
    s = dashboard.step_summary(log, 30)
    assert s["loss"] == pytest.approx(log.steps["loss"][30], rel=1e-3)
    assert s["grad_norm_preclip"] == pytest.approx(log.steps["grad_norm_preclip"][30], rel=1e-3)
    assert 0 <= dashboard.largest_spike(log) < 40
