"""Tests for utils.recovery.checkpoint: exact resume, corruption and nan detection, atomic writes,
rotation."""

import logging
import random

import numpy as np
import pytest
import torch

from utils.recovery import checkpoint as C
from utils.recovery.detectors import all_detectors


def make_training(seed):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=20)
    return model, optimizer, scheduler


def train_step(model, optimizer, scheduler):
    """One step whose data and dropout come from the three RNGs."""
    x = torch.randn(16, 4) + float(np.random.rand()) + random.random()
    loss = model(x).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss.item()


def full_state(model, optimizer, scheduler, step):
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "rng": C.capture_rng_state(),
            "data": {"global_step": step, "sampler_indices": torch.arange(10)},
            "detectors": {k: d.state_dict() for k, d in all_detectors().items()}}


def test_round_trip_resumes_exactly(tmp_path):
    model, optimizer, scheduler = make_training(0)
    random.seed(0)
    np.random.seed(0)
    for _ in range(3):
        train_step(model, optimizer, scheduler)
    manager = C.CheckpointManager(tmp_path)
    manager.save(3, full_state(model, optimizer, scheduler, 3))
    uninterrupted = [train_step(model, optimizer, scheduler) for _ in range(3)]
    draws = (torch.rand(3), random.random(), np.random.rand())

    model2, optimizer2, scheduler2 = make_training(123)  # different initial weights and RNG
    random.seed(99)
    np.random.seed(99)
    state = manager.load(manager.path_for(3))
    model2.load_state_dict(state["model"])
    optimizer2.load_state_dict(state["optimizer"])
    scheduler2.load_state_dict(state["scheduler"])
    C.restore_rng_state(state["rng"])
    resumed = [train_step(model2, optimizer2, scheduler2) for _ in range(3)]
    assert resumed == uninterrupted
    for p, q in zip(model.parameters(), model2.parameters()):
        assert torch.equal(p, q)
    assert torch.equal(torch.rand(3), draws[0])
    assert random.random() == draws[1]
    assert np.random.rand() == draws[2]
    assert scheduler2.get_last_lr() == scheduler.get_last_lr()
    assert state["detectors"]["cusum"] == all_detectors()["cusum"].state_dict()


def tiny_state(value=1.0):
    return {"w": torch.full((3,), value), "step": torch.tensor(1)}


def test_truncated_file_detected_and_previous_good_used(tmp_path, caplog):
    manager = C.CheckpointManager(tmp_path)
    manager.save(10, tiny_state(1.0))
    path = manager.save(20, tiny_state(2.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(C.CorruptCheckpointError):
        manager.load(path)
    with caplog.at_level(logging.WARNING, logger="utils.recovery.checkpoint"):
        step, state = manager.latest_good()
    assert step == 10 and torch.equal(state["w"], torch.ones(3))
    assert "step 20" in caplog.text


def test_flipped_byte_detected(tmp_path):
    manager = C.CheckpointManager(tmp_path)
    path = manager.save(10, tiny_state())
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(C.CorruptCheckpointError, match="sha256"):
        manager.load(path)
    assert manager.latest_good() is None


def test_missing_manifest_is_corrupt(tmp_path):
    manager = C.CheckpointManager(tmp_path)
    path = manager.save(10, tiny_state())
    path.with_suffix(".json").unlink()
    with pytest.raises(C.CorruptCheckpointError):
        manager.load(path)
    assert manager.list() == []


def test_non_finite_checkpoint_skipped_and_before_step_honoured(tmp_path):
    manager = C.CheckpointManager(tmp_path, keep_last=5)
    manager.save(10, tiny_state(1.0))
    manager.save(20, tiny_state(2.0))
    manager.save(30, {"w": torch.tensor([1.0, float("nan")]), "nested": [tiny_state(3.0)]})
    assert manager.manifest(30)["finite"] is False
    assert manager.manifest(30)["nonfinite"] == ["state.w"]
    assert manager.manifest(20)["finite"] is True
    assert manager.latest_good()[0] == 20
    assert manager.latest_good(before_step=20)[0] == 10
    assert manager.latest_good(before_step=10) is None


def test_crash_during_save_leaves_previous_checkpoint_usable(tmp_path, monkeypatch):
    manager = C.CheckpointManager(tmp_path)
    manager.save(10, tiny_state(1.0))

    def crash(*args, **kwargs):
        raise OSError("simulated crash")

    monkeypatch.setattr(C.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        manager.save(20, tiny_state(2.0))
    monkeypatch.undo()
    assert manager.list() == [10]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000010.json", "step_00000010.pt"]
    step, state = manager.latest_good()
    assert step == 10 and torch.equal(state["w"], torch.ones(3))


def test_keep_last_honoured(tmp_path):
    manager = C.CheckpointManager(tmp_path, keep_last=3)
    for step in range(1, 6):
        manager.save(step, tiny_state(float(step)))
    assert manager.list() == [3, 4, 5]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"step_{s:08d}.{ext}" for s in (3, 4, 5) for ext in ("json", "pt")]


def test_rotation_never_deletes_the_newest_finite_checkpoint(tmp_path):
    manager = C.CheckpointManager(tmp_path, keep_last=2)
    manager.save(1, tiny_state(1.0))
    for step in (2, 3, 4):
        manager.save(step, tiny_state(float("inf")))
    assert manager.list() == [1, 3, 4]
    assert manager.latest_good()[0] == 1
    manager.save(5, tiny_state(5.0))
    assert manager.list() == [4, 5]



def test_rotation_never_deletes_the_newest_checkpoint_that_verifies(tmp_path):
    # the case: 3 is finite by its manifest but truncated on disk, then two nan saves
    manager = C.CheckpointManager(tmp_path, keep_last=2)
    for step in (1, 2, 3):
        manager.save(step, tiny_state(float(step)))
    path = manager.path_for(3)
    path.write_bytes(path.read_bytes()[:20])
    assert not manager.verifies(3) and manager.verifies(2)
    for step in (4, 5):
        manager.save(step, tiny_state(float("nan")))
    assert 2 in manager.list()
    step, state = manager.latest_good()
    assert step == 2 and torch.equal(state["w"], torch.full((3,), 2.0))
    manager.save(6, tiny_state(6.0))                    # a good save ends the exception
    assert manager.list() == [5, 6]


def test_verifies_needs_a_finite_intact_checkpoint(tmp_path):
    manager = C.CheckpointManager(tmp_path)
    manager.save(1, tiny_state(1.0))
    manager.save(2, tiny_state(float("inf")))
    assert manager.verifies(1) and not manager.verifies(2) and not manager.verifies(3)
    data = bytearray(manager.path_for(1).read_bytes())
    data[len(data) // 2] ^= 0x01
    manager.path_for(1).write_bytes(bytes(data))
    assert not manager.verifies(1)

def test_numpy_in_state_refused_at_save_time(tmp_path):
    manager = C.CheckpointManager(tmp_path)
    with pytest.raises(TypeError, match="state.rng.keys"):
        manager.save(1, {"rng": {"keys": np.zeros(3)}})
    with pytest.raises(TypeError, match="numpy"):
        manager.save(1, {"loss": np.float64(1.0)})
    assert manager.list() == [] and list(tmp_path.iterdir()) == []
