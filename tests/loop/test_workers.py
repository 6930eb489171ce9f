import sys
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from loop_helpers import broken_evaluator, hash_evaluator, loop_config

from stratloop.errors import EvaluationWorkerError, RunError
from stratloop.factors.fingerprint import Screen
from stratloop.loop.executor import open_executor
from stratloop.loop.workers import EvalTask, EvaluationPool, _ScreenRows, _Worker
from stratloop.spec import Strategy, TopN


def _task(iteration, expression="rank(returns)"):
    return EvalTask(iteration, Strategy(expression=expression, portfolio=TopN(n=2)), iteration + 1)


class TestEvaluationPool:
    def test_results_come_back_in_task_order(self, tmp_path):
        """Results are returned in task order whatever worker finished first."""
        tasks = [_task(i, f"rank(ts_mean(returns, {i + 2}))") for i in range(6)]
        with EvaluationPool(hash_evaluator, loop_config(tmp_path), workers=2, timeout_s=30) as pool:
            results = pool.evaluate(tasks)
        assert [r.iteration for r in results] == list(range(6))
        assert all(r.ok and r.train is not None for r in results)

    def test_an_evaluation_error_is_recorded_for_its_task(self, tmp_path):
        """A candidate whose backtest raises gets its error type and message, others go on."""
        tasks = [_task(0), _task(1, "boom(close)"), _task(2)]
        with EvaluationPool(hash_evaluator, loop_config(tmp_path), workers=1, timeout_s=30) as pool:
            results = pool.evaluate(tasks)
        assert [r.error_type for r in results] == [None, "BacktestError", None]
        assert "boom" in (results[1].error_message or "")

    def test_a_stuck_evaluation_is_killed_and_the_pool_goes_on(self, tmp_path):
        """Past eval_timeout_s the worker is killed and replaced; later tasks still run."""
        tasks = [_task(0, "sleep(close)"), _task(1), _task(2)]
        start = time.monotonic()
        with EvaluationPool(
            hash_evaluator, loop_config(tmp_path), workers=1, timeout_s=0.5
        ) as pool:
            results = pool.evaluate(tasks)
            assert pool.restarts == 1
        assert time.monotonic() - start < 30
        assert results[0].error_type == "EvaluationTimeoutError"
        assert "eval_timeout_s" in (results[0].error_message or "")
        assert results[1].ok
        assert results[2].ok

    def test_a_worker_that_dies_is_recorded_and_replaced(self, tmp_path):
        """A worker process that exits mid-evaluation fails that task only."""
        tasks = [_task(0, "die(close)"), _task(1)]
        with EvaluationPool(hash_evaluator, loop_config(tmp_path), workers=1, timeout_s=30) as pool:
            results = pool.evaluate(tasks)
            assert pool.restarts == 1
        assert results[0].error_type == "EvaluationWorkerError"
        assert "exit code 3" in (results[0].error_message or "")
        assert "loop.workers" in (results[0].error_message or "")
        assert results[1].ok

    def test_a_worker_killed_by_a_signal_names_the_signal(self, tmp_path):
        """A SIGKILL (what the out-of-memory killer sends) is named, not shown as a number."""
        tasks = [_task(0, "oom(close)"), _task(1)]
        with EvaluationPool(hash_evaluator, loop_config(tmp_path), workers=1, timeout_s=30) as pool:
            results = pool.evaluate(tasks)
        assert results[0].error_type == "EvaluationWorkerError"
        assert "killed by SIGKILL, as the out-of-memory killer does" in (
            results[0].error_message or ""
        )
        assert results[1].ok

    def test_an_evaluator_that_cannot_start_stops_the_pool(self, tmp_path):
        """A worker that cannot build its evaluator is a RunError naming the cause."""
        pool = EvaluationPool(broken_evaluator, loop_config(tmp_path), workers=1, timeout_s=30)
        with pytest.raises(RunError, match="no data for this test"):
            pool.evaluate([_task(0)])


def test_the_ray_executor_without_ray_installed_says_how_to_install_it(tmp_path, monkeypatch):
    """``loop.executor: ray`` never falls back to local workers when Ray is missing."""
    monkeypatch.setitem(sys.modules, "ray", None)
    pool = open_executor(hash_evaluator, loop_config(tmp_path, executor="ray"))
    with pytest.raises(RunError, match=r"pip install 'stratloop\[ray\]'.*loop.executor: local"):
        pool.evaluate([_task(0)])


_RULES = st.sampled_from(["top5 monthly", "long-short daily"])


class TestScreenRows:
    @given(st.lists(st.tuples(_RULES, st.integers(0, 6)), max_size=12))
    def test_a_worker_rebuilds_every_screen_from_the_rows_it_lacks(self, steps):
        """Each task carries only its rule's new rows, and the worker's screen equals the bank's."""
        worker = _Worker(None, None)  # type: ignore[arg-type] - only its screen bookkeeping runs
        banks = {
            rule: np.zeros((0, 3), dtype=np.float32)
            for rule in ("top5 monthly", "long-short daily")
        }
        held: dict[str, np.ndarray] = {}
        for rule, added in steps:
            grown = np.arange(added * 3, dtype=np.float32).reshape(added, 3) + len(banks[rule])
            before = len(banks[rule])
            banks[rule] = np.concatenate([banks[rule], grown])
            task = EvalTask(
                0,
                Strategy(expression="rank(returns)", portfolio=TopN(n=2)),
                1,
                Screen(0.7, banks[rule], rule),
            )
            bare, rows = worker.wire(task)
            assert bare.screen is None
            assert (rows.first, len(rows.rows)) == (before, added)
            rebuilt = rows.screen(held)
            assert (rebuilt.rule, rebuilt.threshold) == (rule, 0.7)
            np.testing.assert_array_equal(rebuilt.vectors, banks[rule])

    def test_a_bank_smaller_than_what_was_sent_is_sent_again_whole(self):
        """Rows the worker holds that the bank no longer has are replaced, not kept."""
        worker = _Worker(None, None)  # type: ignore[arg-type] - only its screen bookkeeping runs
        held: dict[str, np.ndarray] = {}
        strategy = Strategy(expression="rank(returns)", portfolio=TopN(n=2))
        big = np.ones((4, 2), dtype=np.float32)
        small = np.full((2, 2), 5.0, dtype=np.float32)
        worker.wire(EvalTask(0, strategy, 1, Screen(0.7, big, "r")))[1].screen(held)
        _, rows = worker.wire(EvalTask(1, strategy, 1, Screen(0.7, small, "r")))
        assert rows.first == 0
        np.testing.assert_array_equal(rows.screen(held).vectors, small)

    def test_a_worker_missing_rows_refuses_the_task(self):
        """A screen the worker cannot rebuild exactly is an error, never a silently wrong screen."""
        rows = _ScreenRows("r", 0.7, 3, np.ones((1, 2), dtype=np.float32))
        with pytest.raises(EvaluationWorkerError, match="holds 0 fingerprints of rule 'r'"):
            rows.screen({})
