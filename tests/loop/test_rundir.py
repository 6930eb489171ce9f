import datetime as dt
import json
import os

import pytest

from stratloop.errors import RunError
from stratloop.loop.rundir import RunDir, atomic_write_json, list_run_ids, new_run_id


class TestRunIds:
    def test_run_ids_sort_by_start_time(self):
        """Ids begin with the UTC start time, so sorting them sorts runs by age."""
        early = new_run_id(dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "aaaaaa")
        late = new_run_id(dt.datetime(2025, 1, 2, 3, 4, 6, tzinfo=dt.UTC), "000000")
        assert early == "20250102T030405Z-aaaaaa"
        assert sorted([late, early]) == [early, late]

    def test_random_suffixes_differ(self):
        """Two runs started in the same second still get different ids."""
        moment = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
        assert new_run_id(moment) != new_run_id(moment)


class TestRunDir:
    def test_creating_an_existing_run_is_an_error(self, tmp_path):
        """A run directory is never reused silently."""
        RunDir.create(tmp_path, "r")
        with pytest.raises(RunError, match="--resume r"):
            RunDir.create(tmp_path, "r")

    def test_the_lock_is_exclusive(self, tmp_path):
        """A second lock on the same run fails at once with a RunError."""
        run = RunDir.create(tmp_path, "r")
        held = run.lock()
        with pytest.raises(RunError, match="another process"):
            RunDir(run.root).lock()
        held.release()
        RunDir(run.root).lock().release()

    def test_atomic_write_replaces_the_whole_file(self, tmp_path):
        """The file holds the new payload and no temporary file is left behind."""
        path = tmp_path / "champion.json"
        atomic_write_json(path, {"a": 1})
        atomic_write_json(path, {"a": 2})
        assert json.loads(path.read_text()) == {"a": 2}
        assert [p.name for p in tmp_path.iterdir()] == ["champion.json"]

    def test_only_directories_with_a_config_are_runs(self, tmp_path):
        """list_run_ids skips stray directories."""
        (tmp_path / "b").mkdir()
        atomic_write_json((tmp_path / "b" / "config.json"), {})
        (tmp_path / "a").mkdir()
        assert list_run_ids(tmp_path) == ["b"]
        assert list_run_ids(tmp_path / "missing") == []

    def test_runs_started_in_one_second_are_ordered_by_creation(self, tmp_path):
        """Ids share the second; the suffix is random, so the config's write time orders them."""
        names = ["20261207T024602Z-ffffff", "20261207T024602Z-000000", "20261207T024601Z-999999"]
        for order, name in enumerate(names):
            (tmp_path / name).mkdir()
            config = tmp_path / name / "config.json"
            atomic_write_json(config, {})
            os.utime(config, ns=(order * 1_000_000, order * 1_000_000))
        assert list_run_ids(tmp_path) == [names[2], names[0], names[1]]
