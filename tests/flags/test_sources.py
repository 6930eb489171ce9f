from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratloop.errors import FlagCombinationError, FlagError, FlagSourceError
from stratloop.flags import (
    FLAG_VARIABLES,
    DotenvFlagSource,
    EnvFlagSource,
    FlagdFileSource,
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


ALL_ON = dict.fromkeys(FLAG_VARIABLES, "true")
PHASE3_OFF = {**ALL_ON, "PHASE3_STRATEGY_PATTERN": "false", "PHASE4_AUDIT_TRAIL": "false"}


def _dotenv(values: dict[str, str]) -> str:
    return "".join(f"{name}={value}\n" for name, value in values.items())


def _same_stamp_write(path: Path, text: str) -> None:
    """Rewrite in place keeping the size and the modification time: only the content differs."""
    before = path.stat()
    assert len(text.encode()) == before.st_size
    with path.open("r+", encoding="utf-8") as handle:
        handle.write(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns


class TestDotenvFlagSource:
    def test_reads_and_rereads_on_change(self, tmp_path):
        """A change to the file is picked up at the next call."""
        path = tmp_path / "flags.env"
        _touch_write(path, "export " + _dotenv(ALL_ON) + "# comment\n")
        source = DotenvFlagSource(path, targeting_key="k")
        assert source.current().audit_trail
        _touch_write(path, _dotenv({**ALL_ON, "PHASE4_AUDIT_TRAIL": "'false'  # rolled back"}))
        assert not source.current().audit_trail

    def test_in_place_edit_with_same_size_and_mtime_is_seen(self, tmp_path):
        """Issue 13: change detection is by content hash, not by modification time and size."""
        path = tmp_path / "flags.env"
        path.write_text(_dotenv({**ALL_ON, "PHASE4_AUDIT_TRAIL": "true_"}).replace("true_", "on"))
        source = DotenvFlagSource(path, targeting_key="k")
        assert source.current().audit_trail
        _same_stamp_write(
            path, path.read_text().replace("PHASE4_AUDIT_TRAIL=on", "PHASE4_AUDIT_TRAIL=no")
        )
        assert not source.current().audit_trail

    def test_emptying_the_file_never_turns_a_rolled_back_phase_on(self, tmp_path):
        """Issue 13: an emptied file is an error naming the flag and the file, never "true"."""
        path = tmp_path / "flags.env"
        path.write_text(_dotenv(PHASE3_OFF))
        source = DotenvFlagSource(path, targeting_key="k")
        assert not source.current().strategy_pattern
        path.write_text("")
        with pytest.raises(
            FlagSourceError, match="ENABLE_GENERATION_REFACTORING is not set"
        ) as info:
            source.current()
        assert str(path) in str(info.value)

    @pytest.mark.parametrize("name", FLAG_VARIABLES)
    def test_every_flag_must_be_named(self, tmp_path, name):
        """A flags file without one flag is an error naming that flag and the file."""
        path = tmp_path / "flags.env"
        path.write_text(_dotenv({k: v for k, v in ALL_ON.items() if k != name}))
        with pytest.raises(FlagSourceError, match=f"{name} is not set") as info:
            DotenvFlagSource(path).current()
        assert str(path) in str(info.value)

    @pytest.mark.parametrize("value", ["", "''", '""', "   "])
    def test_empty_value_is_an_error(self, tmp_path, value):
        """``PHASE3_STRATEGY_PATTERN=`` is an error naming the flag and the file, never true."""
        path = tmp_path / "flags.env"
        path.write_text(_dotenv({**PHASE3_OFF, "PHASE3_STRATEGY_PATTERN": value}))
        with pytest.raises(FlagSourceError, match="PHASE3_STRATEGY_PATTERN is empty") as info:
            DotenvFlagSource(path).current()
        assert str(path) in str(info.value)

    @settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        kept=st.sets(st.sampled_from(FLAG_VARIABLES)),
        values=st.lists(st.sampled_from(["true", "false", "1", "0", "on", "off"]), min_size=5),
    )
    def test_a_file_is_accepted_only_when_it_names_every_flag(self, tmp_path, kept, values):
        """Any subset of the flags: accepted iff complete; else the first missing one is named."""
        path = tmp_path / "flags.env"
        chosen = dict(zip(FLAG_VARIABLES, values, strict=False))
        chosen["PHASE1_CONFIG_ENFORCEMENT"] = "true"
        path.write_text(_dotenv({k: v for k, v in chosen.items() if k in kept}))
        source = DotenvFlagSource(path, targeting_key="k")
        missing = [name for name in FLAG_VARIABLES if name not in kept]
        if missing:
            with pytest.raises(FlagSourceError, match=f"{missing[0]} is not set"):
                source.current()
        else:
            raw = source.current().raw()
            assert raw == {k: v in {"true", "1", "on"} for k, v in chosen.items()}

    def test_bad_change_raises_until_fixed_and_keeps_last_good(self, tmp_path):
        """A bad value in a changed file raises at every call; last_good keeps the old flags."""
        path = tmp_path / "flags.env"
        _touch_write(path, _dotenv({**ALL_ON, "PHASE4_AUDIT_TRAIL": "false"}))
        source = DotenvFlagSource(path, targeting_key="k")
        good = source.current()
        _touch_write(path, _dotenv({**ALL_ON, "PHASE4_AUDIT_TRAIL": "nope"}))
        for _ in range(2):
            with pytest.raises(FlagError, match="'nope'"):
                source.current()
        assert source.last_good == good
        _touch_write(path, _dotenv({**ALL_ON, "PHASE4_AUDIT_TRAIL": "on"}))
        assert source.current().audit_trail

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("PHASE4_AUDIT_TRAIL=true\nPHASE4_AUDIT_TRAIL=false\n", "lines 1 and 2"),
            ("this is not a flag\n", "line 1 is not NAME=value"),
            ("PHASE2_PYDANTIC_VALIDATON=false\n", "did you mean PHASE2_PYDANTIC_VALIDATION"),
            ("PHASE4_AUDIT_TRAIL='false\n", "unbalanced quote"),
            ('{"flags": {}}', "holds a JSON object"),
        ],
    )
    def test_malformed_files(self, tmp_path, text, message):
        """Duplicates, garbage lines, unknown names, bad quotes and JSON are errors naming why."""
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


def _every_flag(**over: dict[str, object]) -> dict[str, object]:
    """Every flag on, with ``over`` replacing some."""
    return {name: over.get(name, _bool_flag("on")) for name in FLAG_VARIABLES}


class TestFlagdFileSource:
    def test_offline_file_provider_evaluates_flags(self, tmp_path):
        """The flagd in-process provider reads a local JSON file, offline."""
        path = tmp_path / "flags.json"
        _flagd(path, _every_flag(PHASE4_AUDIT_TRAIL=_bool_flag("off")))
        with flagd_file_source(path, targeting_key="k") as source:
            flags = source.current()
        assert flags.effective_phase == 3
        assert not flags.audit_trail

    def test_fractional_rollout_is_stable_per_key(self, tmp_path):
        """Flagd's fractional targeting buckets by key; the same key gets the same answer."""
        path = tmp_path / "flags.json"
        fractional = {"fractional": [["on", 10], ["off", 90]]}
        _flagd(path, _every_flag(PHASE4_AUDIT_TRAIL=_bool_flag("off", fractional)))
        answers = []
        for key in ("a", "b", "c", "a"):
            with flagd_file_source(path, targeting_key=key) as source:
                answers.append(source.current().audit_trail)
        assert answers[0] == answers[3]

    def test_picks_up_change_at_once_and_refuses_broken_file_until_fixed(self, tmp_path):
        """A change is seen at the next call; a broken file raises until fixed, then recovers."""
        path = tmp_path / "flags.json"
        _flagd(path, _every_flag())
        with flagd_file_source(path, targeting_key="k") as source:
            assert source.current().audit_trail
            _flagd(path, _every_flag(PHASE4_AUDIT_TRAIL=_bool_flag("off")))
            assert not source.current().audit_trail
            _touch_write(path, "{broken")
            for _ in range(2):
                with pytest.raises(FlagSourceError, match="not a readable JSON"):
                    source.current()
            _flagd(path, _every_flag())
            assert source.current().audit_trail

    def test_in_place_edit_with_same_size_and_mtime_is_seen(self, tmp_path):
        """The flagd watcher reloads only when the mtime grows; the content hash decides here."""
        path = tmp_path / "flags.json"
        phase4 = {"state": "ENABLED", "variants": {"yy": True, "nn": False}, "defaultVariant": "yy"}
        _flagd(path, _every_flag(PHASE4_AUDIT_TRAIL=phase4))
        with flagd_file_source(path, targeting_key="k") as source:
            assert source.current().audit_trail
            _same_stamp_write(
                path, path.read_text().replace('"defaultVariant": "yy"', '"defaultVariant": "nn"')
            )
            assert not source.current().audit_trail

    def test_missing_flag_is_an_error(self, tmp_path):
        """A flagd file must define every flag: a missing one is never "unset means true"."""
        path = tmp_path / "flags.json"
        flags = _every_flag()
        del flags["PHASE3_STRATEGY_PATTERN"]
        _flagd(path, flags)
        with pytest.raises(FlagSourceError, match="PHASE3_STRATEGY_PATTERN is not set") as info:
            flagd_file_source(path)
        assert str(path) in str(info.value)

    def test_rollout_key_is_refused(self, tmp_path):
        """A ``_ROLLOUT_PERCENT`` key in a flagd file would be ignored by flagd: an error."""
        path = tmp_path / "flags.json"
        _flagd(path, {**_every_flag(), "PHASE4_AUDIT_TRAIL_ROLLOUT_PERCENT": _bool_flag("on")})
        with pytest.raises(FlagSourceError, match="fractional targeting"):
            flagd_file_source(path)

    def test_unknown_flag_name_is_rejected(self, tmp_path):
        """A typo in a flag key is an error with a did-you-mean."""
        path = tmp_path / "flags.json"
        _flagd(path, {**_every_flag(), "PHASE4_AUDIT_TRAL": _bool_flag("off")})
        with pytest.raises(FlagSourceError, match="did you mean PHASE4_AUDIT_TRAIL"):
            flagd_file_source(path)


class TestOpenFlagSource:
    def test_selects_by_extension_and_content(self, tmp_path):
        """No file is the environment; .json or a JSON object is flagd; NAME=value lines dotenv."""
        assert isinstance(open_flag_source(None, {}), EnvFlagSource)
        dotenv = tmp_path / "flags.env"
        dotenv.write_text(_dotenv(ALL_ON), encoding="utf-8")
        assert isinstance(open_flag_source(dotenv, {}), DotenvFlagSource)
        for name in ("flags.json", "flags", "flags.conf"):
            path = tmp_path / name
            _flagd(path, _every_flag(PHASE4_AUDIT_TRAIL=_bool_flag("off")))
            source = open_flag_source(path, {})
            assert isinstance(source, FlagdFileSource)
            assert not source.current().audit_trail
            source.close()
        plain = tmp_path / "flags.txt"
        plain.write_text(_dotenv(ALL_ON), encoding="utf-8")
        assert isinstance(open_flag_source(plain, {}), DotenvFlagSource)

    @pytest.mark.parametrize(
        ("name", "text", "message"),
        [
            ("flags.json", "PHASE4_AUDIT_TRAIL=false\n", "named .json but does not hold a JSON"),
            ("flags.env", '{"flags": {}}', "named .env but holds a JSON object"),
        ],
    )
    def test_name_contradicting_content_is_an_error(self, tmp_path, name, text, message):
        """A file whose name and content disagree is refused, not guessed."""
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(FlagSourceError, match=message):
            open_flag_source(path, {})
