"""Shared fixtures: fresh runs are trained once per test session and shared."""
from __future__ import annotations

import pytest

from utils import claims


@pytest.fixture(scope="session")
def symptoms_of():
    """symptoms_of(variant, seed=42) -> utils.symptoms.compute(...) of a fresh run."""
    return claims.results_of
