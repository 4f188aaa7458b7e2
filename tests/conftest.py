"""Shared fixtures: fresh runs are trained once per test session and shared; a temporary learner."""
from __future__ import annotations

import os

import pytest

# The tests read the interface in English (a test that wants Spanish says so: utils.text.speaking, or
# COURSE_LANG=es in its own environment), whatever language the developer chose on the start page.
os.environ["COURSE_LANG"] = "en"

from utils.course import claims
from utils.text import set_language


@pytest.fixture(autouse=True)
def no_language_left_chosen():
    """Every test starts and ends with no language chosen (``COURSE_LANG`` or English decides): a test
    that chose one (a start page, a learner's profile) never changes the language of the next."""
    set_language(None)
    yield
    set_language(None)


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
