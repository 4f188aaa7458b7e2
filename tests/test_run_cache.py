"""The session run cache: on only when COURSE_RUN_CACHE is set, keyed by config, code and kernel path."""
from __future__ import annotations

import pytest

from utils import run_cache, train
from utils.config import config_for


def test_cache_is_off_without_the_variable(monkeypatch):
    monkeypatch.delenv("COURSE_RUN_CACHE", raising=False)
    assert run_cache.cache_path(config_for("broken")) is None


def test_second_call_reuses_the_first_run(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_RUN_CACHE", str(tmp_path))
    first = train.run_variant("healthy", steps=12)
    monkeypatch.setattr(train.TrainingRun, "train", lambda self, **kw: pytest.fail("trained again"))
    again = train.run_variant("healthy", steps=12)
    assert again.steps["loss"] == first.steps["loss"]
    assert again.steps["param_hash"] == first.steps["param_hash"]


def test_a_different_config_is_a_different_entry(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_RUN_CACHE", str(tmp_path))
    assert run_cache.cache_path(config_for("broken")) != run_cache.cache_path(config_for("broken", clip=0.5))
    assert run_cache.cache_path(config_for("broken")) != run_cache.cache_path(config_for("broken", seed=43))


def test_another_kernel_setting_is_a_different_entry(monkeypatch, tmp_path):
    # (an MKL branch changes the numbers without changing what torch reports as its capability)
    monkeypatch.setenv("COURSE_RUN_CACHE", str(tmp_path))
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    portable = run_cache.cache_path(config_for("broken"))
    monkeypatch.setenv("MKL_CBWR", "AUTO")
    assert run_cache.cache_path(config_for("broken")) != portable


def test_a_damaged_cache_file_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_RUN_CACHE", str(tmp_path))
    cfg = config_for("healthy", steps=5)
    run_cache.cache_path(cfg).write_text("{ not json")
    assert run_cache.load(cfg) is None
    log = train.run_variant("healthy", steps=5)
    assert len(log) == 5
