"""Suite-wide fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

_FLAG_VARIABLES = (
    "ENABLE_GENERATION_REFACTORING",
    "PHASE1_CONFIG_ENFORCEMENT",
    "PHASE2_PYDANTIC_VALIDATION",
    "PHASE3_STRATEGY_PATTERN",
    "PHASE4_AUDIT_TRAIL",
)


@pytest.fixture(autouse=True)
def clean_environ() -> Iterator[None]:
    """Run every test without STRATLOOP_* or flag variables from the caller's shell."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith("STRATLOOP_") or key in _FLAG_VARIABLES:
            del os.environ[key]
    yield
    os.environ.clear()
    os.environ.update(saved)
