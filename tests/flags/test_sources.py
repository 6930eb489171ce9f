from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from stratloop.errors import FlagCombinationError, FlagError, FlagSourceError
from stratloop.flags import (
    DotenvFlagSource,
    EnvFlagSource,
    Flags,
    flagd_file_source,
    in_rollout,
    open_flag_source,
)


def _touch_write(path: Path, text: str) -> None:
    """Write and move mtime forward so a same-size rewrite is still seen."""
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))


class TestEnvFlagSource:
    def test_unset_is_all_on(self):
        """An empty environment gives all phases on."""
        assert EnvFlagSource({}, targeting_key="k").current() == Flags(source="environment")

    def test_guide_phase2_exports(self):
        """The guide's Phase 2 exports give effective phase 2."""
        env = {
            "ENABLE_GENERATION_REFACTORING": "true",
            "PHASE1_CONFIG_ENFORCEMENT": "true",
            "PHASE2_PYDANTIC_VALIDATION": "true",
            "PHASE3_STRATEGY_PATTERN": "false",
            "PHASE4_AUDIT_TRAIL": "false",
        }
        assert EnvFlagSource(env, targeting_key="k").current().effective_phase == 2

    @pytest.mark.flag_defaults
    def test_reads_live_environment_each_call(self, monkeypatch):
        """With no mapping the live os.environ is read at every call (rollback without restart)."""
        source = EnvFlagSource(targeting_key="k")
        assert source.current().audit_trail
        monkeypatch.setenv("PHASE4_AUDIT_TRAIL", "off")
        assert not source.current().audit_trail

    def test_bad_value_names_variable(self):
        """A bad value is a FlagError naming the variable."""
        with pytest.raises(FlagError, match="PHASE3_STRATEGY_PATTERN"):
            EnvFlagSource({"PHASE3_STRATEGY_PATTERN": "ture"}).current()

    def test_lookalike_variable_is_an_error(self):
        """A misspelt flag variable is reported with a did-you-mean."""
        with pytest.raises(FlagSourceError, match="did you mean PHASE2_PYDANTIC_VALIDATION"):
            EnvFlagSource({"PHASE2_PYDANTIC_VALIDATON": "false"}).current()

    def test_phase3_without_phase1(self):
        """PHASE3 on with PHASE1 off is a combination error."""
        with pytest.raises(FlagCombinationError):
            EnvFlagSource({"PHASE1_CONFIG_ENFORCEMENT": "false"}).current()

    def test_rollout_percent_applies_by_bucket(self):
        """<FLAG>_ROLLOUT_PERCENT limits the flag to instances in the bucket."""
        keys = [f"host-{i}" for i in range(50)]
        for key in keys:
            flags = EnvFlagSource(
                {"PHASE4_AUDIT_TRAIL_ROLLOUT_PERCENT": "10"}, targeting_key=key
            ).current()
            assert flags.phase4 == in_rollout("PHASE4_AUDIT_TRAIL", key, 10.0)
            assert flags.rollouts[0].percent == 10.0

    def test_partial_phase1_under_phase3_is_an_error(self):
        """Phase 3 on while Phase 1 is only partly rolled out is rejected on every instance."""
        with pytest.raises(FlagCombinationError, match="rolled out to only 50%"):
            EnvFlagSource({"PHASE1_CONFIG_ENFORCEMENT_ROLLOUT_PERCENT": "50"}).current()


class TestDotenvFlagSource:
    def test_reads_and_rereads_on_change(self, tmp_path):
        """A change to the file is picked up at the next call."""
        path = tmp_path / "flags.env"
        _touch_write(path, "export PHASE4_AUDIT_TRAIL=true\n# comment\n")
        source = DotenvFlagSource(path, targeting_key="k")
        assert source.current().audit_trail
        _touch_write(path, "PHASE4_AUDIT_TRAIL='false'  # rolled back\n")
        assert not source.current().audit_trail

    def test_bad_change_raises_until_fixed_and_keeps_last_good(self, tmp_path):
        """A bad value in a changed file raises at every call; last_good keeps the old flags."""
        path = tmp_path / "flags.env"
        _touch_write(path, "PHASE4_AUDIT_TRAIL=false\n")
        source = DotenvFlagSource(path, targeting_key="k")
        good = source.current()
        _touch_write(path, "PHASE4_AUDIT_TRAIL=nope\n")
        for _ in range(2):
            with pytest.raises(FlagError, match="'nope'"):
                source.current()
        assert source.last_good == good
        _touch_write(path, "PHASE4_AUDIT_TRAIL=on\n")
        assert source.current().audit_trail

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("PHASE4_AUDIT_TRAIL=true\nPHASE4_AUDIT_TRAIL=false\n", "lines 1 and 2"),
            ("this is not a flag\n", "line 1 is not NAME=value"),
            ("PHASE2_PYDANTIC_VALIDATON=false\n", "did you mean PHASE2_PYDANTIC_VALIDATION"),
            ("PHASE4_AUDIT_TRAIL='false\n", "unbalanced quote"),
        ],
    )
    def test_malformed_files(self, tmp_path, text, message):
        """Duplicates, garbage lines, unknown names and bad quotes are errors naming the line."""
        path = tmp_path / "flags.env"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(FlagSourceError, match=message):
            DotenvFlagSource(path).current()

    def test_missing_file(self, tmp_path):
        """A missing file is an error naming it."""
        with pytest.raises(FlagSourceError, match="cannot read"):
            DotenvFlagSource(tmp_path / "nope.env").current()


def _flagd(path: Path, flags: dict[str, object]) -> None:
    _touch_write(path, json.dumps({"flags": flags}))


def _bool_flag(default: str, targeting: object = None) -> dict[str, object]:
    flag: dict[str, object] = {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": default,
    }
    if targeting is not None:
        flag["targeting"] = targeting
    return flag


class TestFlagdFileSource:
    def test_offline_file_provider_evaluates_flags(self, tmp_path):
        """The flagd in-process provider reads a local JSON file, offline; missing flags are on."""
        path = tmp_path / "flags.json"
        _flagd(path, {"PHASE4_AUDIT_TRAIL": _bool_flag("off")})
        with flagd_file_source(path, targeting_key="k", poll_ms=50) as source:
            flags = source.current()
        assert flags.effective_phase == 3
        assert not flags.audit_trail

    def test_fractional_rollout_is_stable_per_key(self, tmp_path):
        """Flagd's fractional targeting buckets by key; the same key gets the same answer."""
        path = tmp_path / "flags.json"
        fractional = {"fractional": [["on", 10], ["off", 90]]}
        _flagd(path, {"PHASE4_AUDIT_TRAIL": _bool_flag("off", fractional)})
        answers = []
        for key in ("a", "b", "c", "a"):
            with flagd_file_source(path, targeting_key=key, poll_ms=50) as source:
                answers.append(source.current().audit_trail)
        assert answers[0] == answers[3]

    def test_picks_up_change_and_refuses_broken_file(self, tmp_path):
        """A change is seen after the poll; a broken file is an error, not stale values."""
        path = tmp_path / "flags.json"
        _flagd(path, {"PHASE4_AUDIT_TRAIL": _bool_flag("on")})
        with flagd_file_source(path, targeting_key="k", poll_ms=20) as source:
            assert source.current().audit_trail
            _flagd(path, {"PHASE4_AUDIT_TRAIL": _bool_flag("off")})
            deadline = time.monotonic() + 5
            while source.current().audit_trail and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not source.current().audit_trail
            _touch_write(path, "{broken")
            with pytest.raises(FlagSourceError):
                source.current()

    def test_unknown_flag_name_is_rejected(self, tmp_path):
        """A typo in a flag key is an error with a did-you-mean."""
        path = tmp_path / "flags.json"
        _flagd(path, {"PHASE4_AUDIT_TRAL": _bool_flag("off")})
        with pytest.raises(FlagSourceError, match="did you mean PHASE4_AUDIT_TRAIL"):
            flagd_file_source(path)


class TestOpenFlagSource:
    def test_selects_by_suffix(self, tmp_path):
        """No file is the environment, .json is flagd, anything else dotenv."""
        assert isinstance(open_flag_source(None, {}), EnvFlagSource)
        dotenv = tmp_path / "flags.env"
        dotenv.write_text("PHASE4_AUDIT_TRAIL=false\n", encoding="utf-8")
        assert isinstance(open_flag_source(dotenv, {}), DotenvFlagSource)
