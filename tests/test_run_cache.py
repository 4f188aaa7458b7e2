"""The session run cache: on only when COURSE_RUN_CACHE is set, keyed by config, code and kernels.

The key holds what changes a run's numbers without changing its config: the code that trains it,
the kernel capability torch uses (``torch.backends.cpu.get_cpu_capability()``) and ``MKL_CBWR``.
"""
from __future__ import annotations

import pytest
import torch

from utils.spikelab import runstore as run_cache
from utils.spikelab import train
from utils.spikelab.config import config_for


def test_cache_is_off_without_the_variable(monkeypatch):
    monkeypatch.delenv("COURSE_RUN_CACHE", raising=False)
    assert run_cache.cache_path(config_for("broken")) is None


def test_the_entry_lives_in_the_folder_and_is_named_for_the_run(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_RUN_CACHE", str(tmp_path))
    path = run_cache.cache_path(config_for("broken"))
    assert path.parent == tmp_path and path.name.startswith("19-spike-001-") and path.suffix == ".json"
    assert run_cache.cache_path(config_for("broken")) == path          # the key is stable


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


def test_another_kernel_capability_is_a_different_entry(monkeypatch, tmp_path):
    # torch reads ATEN_CPU_CAPABILITY once per process, so the test flips what torch reports
    monkeypatch.setenv("COURSE_RUN_CACHE", str(tmp_path))
    keys = {}
    for capability in ("DEFAULT", "AVX2", "AVX512"):
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        keys[capability] = run_cache.cache_path(config_for("broken"))
    assert len(set(keys.values())) == 3, keys


def test_another_mkl_branch_is_a_different_entry(monkeypatch, tmp_path):
    # an MKL branch changes the numbers without changing what torch reports as its capability
    monkeypatch.setenv("COURSE_RUN_CACHE", str(tmp_path))
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    portable = run_cache.cache_path(config_for("broken"))
    monkeypatch.setenv("MKL_CBWR", "AUTO")
    auto = run_cache.cache_path(config_for("broken"))
    monkeypatch.delenv("MKL_CBWR")
    unset = run_cache.cache_path(config_for("broken"))
    assert len({portable, auto, unset}) == 3


def test_a_change_in_the_training_code_is_a_different_entry(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_RUN_CACHE", str(tmp_path))
    before = run_cache.cache_path(config_for("broken"))
    monkeypatch.setattr(run_cache, "code_hash", lambda: "0" * 16)
    assert run_cache.cache_path(config_for("broken")) != before


def test_a_damaged_cache_file_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_RUN_CACHE", str(tmp_path))
    cfg = config_for("healthy", steps=5)
    run_cache.cache_path(cfg).write_text("{ not json")
    assert run_cache.load(cfg) is None
    log = train.run_variant("healthy", steps=5)
    assert len(log) == 5
    assert run_cache.load(cfg).steps["loss"] == log.steps["loss"], "the fresh run replaced the damaged file"
