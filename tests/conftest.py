"""Shared fixtures: fresh runs are trained once per test session and shared; a temporary learner."""
from __future__ import annotations

import pytest

from utils.course import claims


@pytest.fixture(scope="session")
def symptoms_of():
    """symptoms_of(variant, seed=42) -> utils.spikelab.symptoms.compute(...) of a fresh run."""
    return claims.results_of


@pytest.fixture
def learners(tmp_path, monkeypatch):
    """A temporary learners folder and current learner 'ana' (test_notes has its own)."""
    folder = tmp_path / "learners"
    monkeypatch.setenv("COURSE_LEARNERS_DIR", str(folder))
    monkeypatch.setenv("LEARNER", "ana")
    return folder
