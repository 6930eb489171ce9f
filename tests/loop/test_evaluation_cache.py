from __future__ import annotations

import numpy as np
import pytest

from stratloop.config import default_config, validate_config
from stratloop.data import load_dataset
from stratloop.errors import ConfigValidationError
from stratloop.factors import evaluate
from stratloop.flags import Flags
from stratloop.loop.evaluation import evaluation_cache

PHASE1 = Flags(phase2=False, phase3=False, phase4=False)
PHASE2 = Flags()


def _document(cache_mb: object) -> dict[str, object]:
    return {
        "version": 1,
        "generation": {"use_factor_graph": True, "innovation_rate": 0},
        "loop": {"eval_cache_mb": cache_mb},
    }


def test_the_default_worker_cache_holds_256_mib() -> None:
    assert evaluation_cache(default_config()).stats().max_bytes == 256 * 1024 * 1024


@pytest.mark.parametrize("flags", [PHASE1, PHASE2], ids=["dict", "pydantic"])
def test_the_configured_size_bounds_the_worker_cache(flags: Flags) -> None:
    config = validate_config(_document(3), flags=flags)
    cache = evaluation_cache(config)
    panel = load_dataset("sp500-20")

    for window in (5, 10, 15):
        evaluate(f"ts_mean(close, {window})", panel, cache=cache)

    stats = cache.stats()
    assert stats.max_bytes == 3 * 1024 * 1024
    assert stats.entries == 2
    assert stats.bytes == 2 * panel.close.nbytes
    assert stats.evictions == 1


def test_zero_turns_the_worker_cache_off() -> None:
    cache = evaluation_cache(validate_config(_document(0), flags=PHASE2))
    panel = load_dataset("sp500-20")

    first = evaluate("ts_mean(close, 5)", panel, cache=cache)
    second = evaluate("ts_mean(close, 5)", panel, cache=cache)

    np.testing.assert_array_equal(first, second)
    assert cache.stats().entries == 0
    assert cache.stats().hits == 0


@pytest.mark.parametrize("flags", [PHASE1, PHASE2], ids=["dict", "pydantic"])
@pytest.mark.parametrize("value", [-1, 1.5, "256MB", True, 2**21])
def test_a_bad_cache_size_names_the_field_and_the_value(flags: Flags, value: object) -> None:
    with pytest.raises(ConfigValidationError) as raised:
        validate_config(_document(value), flags=flags)

    message = str(raised.value)
    assert "loop.eval_cache_mb" in message
    assert repr(value) in message or str(value) in message
