"""Fixtures for the safety tests: the real classifiers, loaded once per session."""

from __future__ import annotations

import os

import pytest

from safety import datasets
from safety.terms import TermRules


@pytest.fixture(scope="session")
def rules() -> TermRules:
    return TermRules.from_dir()


@pytest.fixture(scope="session")
def classifier():
    """The offline layered classifier with the committed head and the packaged MiniLM."""
    from safety.text import LayeredTextClassifier

    clf = LayeredTextClassifier.default(encoder_threads=1)
    clf.warm_up()
    return clf


@pytest.fixture(scope="session")
def shared_data():
    path = datasets.safety_data_dir(datasets.shared_dir(os.environ.get("EASEL_SHARED_DIR")))
    if not path.exists():
        pytest.skip(f"shared safety data not found at {path} (set EASEL_SHARED_DIR or check out ../shared)")
    return path.parents[1]
