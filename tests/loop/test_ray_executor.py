"""``loop.executor: ray`` on a local Ray cluster: the same history as local workers, retries."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from loop_helpers import (
    KILL_ONCE_DIR,
    broken_evaluator,
    factor_graph_source,
    hash_evaluator,
    kill_once_evaluator,
    loop_config,
)
from test_workers import _task

from run_helpers import AUDIT_OFF
from stratloop import read_history
from stratloop.config.models import StratloopConfig
from stratloop.errors import RunError
from stratloop.flags import EnvFlagSource
from stratloop.loop import LoopParts, LoopRunner
from stratloop.loop.ray_workers import TASK_RETRIES, RayEvaluationPool

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow

_HERE = Path(__file__).parent


@pytest.fixture(scope="module", autouse=True)
def local_ray(tmp_path_factory):
    """One two-CPU Ray for the module; its workers import the test helpers and see the kill dir."""
    kill_dir = tmp_path_factory.mktemp("kill-once")
    saved = {key: os.environ.get(key) for key in ("PYTHONPATH", KILL_ONCE_DIR)}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(_HERE), *sys.path])
    os.environ[KILL_ONCE_DIR] = str(kill_dir)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield kill_dir
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _history(config: StratloopConfig, evaluator, run_id: str) -> list[dict[str, object]]:
    parts = LoopParts(
        factor_graph=factor_graph_source(), evaluator=evaluator, flags=EnvFlagSource(AUDIT_OFF)
    )
    summary = LoopRunner.create(config, lambda _usage: parts, run_id=run_id).run()
    assert summary.status == "completed", summary.message
    return [r.comparable() for r in read_history(summary.path / "history.jsonl").records]


def _config(tmp_path: Path, executor: str, workers: int) -> StratloopConfig:
    return loop_config(tmp_path / f"{executor}-{workers}", executor=executor, workers=workers)


@pytest.fixture(scope="module")
def local_1(tmp_path_factory) -> list[dict[str, object]]:
    """The history of one local worker: what every executor must reproduce."""
    return _history(_config(tmp_path_factory.mktemp("l1"), "local", 1), hash_evaluator, "l1")


def test_ray_gives_the_history_of_local_workers(tmp_path, local_1):
    """Same seed and configuration: identical history on local 1, local 2 and Ray 2 workers."""
    assert _history(_config(tmp_path, "local", 2), hash_evaluator, "l2") == local_1
    assert _history(_config(tmp_path, "ray", 2), hash_evaluator, "r2") == local_1
    assert [r["iteration_num"] for r in local_1] == list(range(12))


def test_a_worker_killed_mid_task_is_retried_and_nothing_is_lost_or_repeated(
    tmp_path, local_ray, local_1
):
    """The actor evaluating the third trial is SIGKILLed once; Ray restarts it and retries."""
    expected = local_1
    killed = _history(_config(tmp_path, "ray", 2), kill_once_evaluator, "r2")
    assert (local_ray / "killed").exists(), "no worker was killed: the test proves nothing"
    assert killed == expected


class TestRayPool:
    def test_a_task_whose_worker_keeps_dying_is_recorded_and_the_pool_goes_on(self, tmp_path):
        tasks = [_task(0, "die(close)"), _task(1)]
        with RayEvaluationPool(
            hash_evaluator, loop_config(tmp_path), workers=1, timeout_s=60
        ) as pool:
            results = pool.evaluate(tasks)
            assert pool.restarts == 1
        assert results[0].error_type == "EvaluationWorkerError"
        assert f"{TASK_RETRIES + 1} times" in (results[0].error_message or "")
        assert results[1].ok

    def test_a_stuck_evaluation_is_killed_and_its_actor_replaced(self, tmp_path):
        tasks = [_task(0, "sleep(close)"), _task(1), _task(2)]
        with RayEvaluationPool(
            hash_evaluator, loop_config(tmp_path), workers=1, timeout_s=2
        ) as pool:
            results = pool.evaluate(tasks)
            assert pool.restarts == 1
        assert results[0].error_type == "EvaluationTimeoutError"
        assert "eval_timeout_s" in (results[0].error_message or "")
        assert [r.ok for r in results[1:]] == [True, True]

    def test_an_evaluator_that_cannot_start_is_a_run_error(self, tmp_path):
        pool = RayEvaluationPool(broken_evaluator, loop_config(tmp_path), workers=1, timeout_s=30)
        with pytest.raises(RunError, match="no data for this test"):
            pool.evaluate([_task(0)])
