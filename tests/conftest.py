"""Suite-wide fixtures.

``STRATLOOP_TEST_FLAGS`` runs the suite under one of the deployment guide's
flag combinations (``make matrix``, the CI workflow's matrix): ``0`` (the
master switch off), ``1``, ``1-2``, ``1-3`` or ``1-4`` (master on, phases 1..N
on, the rest off). Every test starts with exactly those five flag variables
set, as a process deployed with that combination would; a test that sets its
own flags (``monkeypatch.setenv``, a flags file, a :class:`~stratloop.flags.Flags`)
still decides for itself, and a test marked ``flag_defaults`` (it asserts what
happens with no flag variable set, e.g. that unset means every phase on)
starts with none. Unset, every test starts with no flag variable at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

import hypothesis
import pytest

_FLAG_VARIABLES = (
    "ENABLE_GENERATION_REFACTORING",
    "PHASE1_CONFIG_ENFORCEMENT",
    "PHASE2_PYDANTIC_VALIDATION",
    "PHASE3_STRATEGY_PATTERN",
    "PHASE4_AUDIT_TRAIL",
)
MATRIX = ("0", "1", "1-2", "1-3", "1-4")
"""The guide's combinations: Phase 0 (master off); 1; 1+2; 1-3; 1-4."""


def matrix_flags(combination: str) -> dict[str, str]:
    """The five flag variables of one ``MATRIX`` combination."""
    if combination not in MATRIX:
        raise pytest.UsageError(
            f"STRATLOOP_TEST_FLAGS={combination!r}: expected one of {', '.join(MATRIX)}"
        )
    last = 0 if combination == "0" else int(combination[-1])
    master, *phases = _FLAG_VARIABLES
    values = {master: "false" if last == 0 else "true"}
    values.update({name: str(n <= last).lower() for n, name in enumerate(phases, start=1)})
    return values


def _requested_flags() -> Mapping[str, str]:
    combination = os.environ.get("STRATLOOP_TEST_FLAGS", "")
    return matrix_flags(combination) if combination else {}


_MATRIX_FLAGS = _requested_flags()


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``flag_defaults`` marker."""
    config.addinivalue_line(
        "markers",
        "flag_defaults: asserts the behaviour with no flag variable set; "
        "STRATLOOP_TEST_FLAGS does not apply to it",
    )


def pytest_report_header() -> str | None:
    """Say which flag combination the suite runs under."""
    if not _MATRIX_FLAGS:
        return None
    return "flag combination: " + " ".join(f"{k}={v}" for k, v in _MATRIX_FLAGS.items())


@pytest.fixture(autouse=True)
def clean_environ(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run every test without the caller's STRATLOOP_* or flag variables (see the docstring)."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith("STRATLOOP_") or key in _FLAG_VARIABLES:
            del os.environ[key]
    if request.node.get_closest_marker("flag_defaults") is None:
        os.environ.update(_MATRIX_FLAGS)
    yield
    os.environ.clear()
    os.environ.update(saved)


# Property tests draw the same examples on every run (CI must not turn red by luck);
# `HYPOTHESIS_PROFILE=explore pytest` searches new examples with a random seed. No deadline:
# an example's time on a loaded 2-core host says nothing about correctness (bench/ measures speed).
hypothesis.settings.register_profile("default", derandomize=True, print_blob=True, deadline=None)
hypothesis.settings.register_profile("explore", derandomize=False, max_examples=1000, deadline=None)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
