"""The CI workflow: it parses, its matrix is `make matrix`'s, and its commands are the guide's."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from deploy_helpers import ROOT, WORKFLOW

_FLAGS = (
    "ENABLE_GENERATION_REFACTORING",
    "PHASE1_CONFIG_ENFORCEMENT",
    "PHASE2_PYDANTIC_VALIDATION",
    "PHASE3_STRATEGY_PATTERN",
    "PHASE4_AUDIT_TRAIL",
)


def _workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def _suite_conftest() -> ModuleType:
    """tests/conftest.py, loaded by path (other folders have conftest modules of their own)."""
    spec = importlib.util.spec_from_file_location("_suite_conftest", ROOT / "tests" / "conftest.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _make_matrix() -> list[str]:
    """The combinations `make matrix` loops over, from make's dry run."""
    dry = subprocess.run(
        ["make", "-n", "matrix"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    match = re.search(r"for flags in ([^;]*);", dry)
    assert match is not None, dry
    return match.group(1).split()


def test_workflow_parses() -> None:
    """The workflow is YAML with the suite, promtool and guide jobs, triggered on push and PR."""
    workflow = _workflow()
    triggers = workflow.get("on", workflow.get(True))
    assert {"push", "pull_request"} <= set(triggers)
    assert set(workflow["jobs"]) == {"suite", "promtool", "guide"}
    for job in workflow["jobs"].values():
        assert job["steps"], job["name"]
        assert job["timeout-minutes"] <= 30


def test_matrix_is_make_matrix() -> None:
    """The CI matrix, `make matrix` and conftest's combinations are the same, in order."""
    include = _workflow()["jobs"]["suite"]["strategy"]["matrix"]["include"]
    combinations = [entry["flags"] for entry in include]
    conftest = _suite_conftest()
    assert (
        combinations == _make_matrix() == list(conftest.MATRIX) == ["0", "1", "1-2", "1-3", "1-4"]
    )
    for entry in include:
        assert {name: entry[name] for name in _FLAGS} == conftest.matrix_flags(entry["flags"])
    suite = _workflow()["jobs"]["suite"]
    assert suite["env"] == {name: f"${{{{ matrix.{name} }}}}" for name in _FLAGS}
    assert any(
        "make matrix MATRIX=${{ matrix.flags }}" in step.get("run", "") for step in suite["steps"]
    )


def test_promtool_job_checks_and_tests_the_rules() -> None:
    """The promtool job runs the same two commands as tests/deploy/test_alert_rules.py."""
    runs = "\n".join(step.get("run", "") for step in _workflow()["jobs"]["promtool"]["steps"])
    assert "promtool check rules deploy/prometheus/alerts.yml" in runs
    assert "promtool test rules deploy/prometheus/alerts_test.yml" in runs


def test_guide_job_runs_the_whole_guide() -> None:
    """The guide job runs the test that runs every guide command as written, top to bottom."""
    job = _workflow()["jobs"]["guide"]
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "pytest tests/acceptance/test_guide_run.py" in runs
    assert (ROOT / "tests" / "acceptance" / "test_guide_run.py").is_file()


def test_matrix_flags_follow_the_guide() -> None:
    """Phase 0 is the master switch off; 1-N turn the master and phases 1..N on, the rest off."""
    flags = _suite_conftest().matrix_flags
    assert set(flags("0").values()) == {"false"}
    assert list(flags("1-3").values()) == ["true", "true", "true", "true", "false"]
    assert list(flags("1").values()) == ["true", "true", "false", "false", "false"]


def test_relative_paths_exist() -> None:
    """The files the workflow names exist."""
    text = WORKFLOW.read_text()
    for path in re.findall(r"deploy/\S+\.yml", text):
        assert Path(ROOT, path).is_file(), path
