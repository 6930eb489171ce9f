"""/metrics per LLM model: calls, proposals, tokens, cost, latency, acceptance and improvement."""

from __future__ import annotations

import dataclasses

from prometheus_client.parser import text_string_to_metric_families

from iteration_records import record_at
from stratloop.config.models import StratloopConfig
from stratloop.flags import EnvFlagSource
from stratloop.llm.calls import LLMCall
from stratloop.service import LoopService
from stratloop.service.health import HealthSnapshot, judge_metrics
from stratloop.service.metrics import render_metrics


def _metrics(records) -> dict[str, dict[str, float]]:
    config = StratloopConfig.model_validate(
        {"version": 1, "generation": {"use_factor_graph": None, "innovation_rate": 100}}
    )
    service = LoopService(config, EnvFlagSource({}))
    for record in records:
        service.committed(record, None)
    text = render_metrics(
        HealthSnapshot("healthy", None, None, service.state(), (), judge_metrics({}))
    )
    return {
        family.name: {s.labels.get("model", ""): s.value for s in family.samples}
        for family in text_string_to_metric_families(text.decode())
        if family.name.startswith("stratloop_llm_model_")
    }


def test_per_model_families() -> None:
    """Two models: counts, cost, latency sums and rates per model label."""
    first = LLMCall("small", "propose", "accepted", 1.5, 100, 20, 0.12, "stop")
    rejected = LLMCall("big", "propose", "rejected", 2.0, 100, 20, 1.2, "stop", error="bad")
    repaired = LLMCall("big", "repair", "accepted", 3.0, 100, 20, 1.2, "stop")
    evaluated = record_at(0)
    assert evaluated.evaluated
    records = [
        dataclasses.replace(evaluated, llm_calls=(first,), champion=True),
        dataclasses.replace(record_at(1), llm_calls=(rejected, repaired), champion=False),
    ]
    families = _metrics(records)
    assert families["stratloop_llm_model_calls"] == {"small": 1.0, "big": 2.0}
    assert families["stratloop_llm_model_proposals"] == {"small": 1.0, "big": 1.0}
    assert families["stratloop_llm_model_tokens"] == {"small": 120.0, "big": 240.0}
    assert families["stratloop_llm_model_latency_seconds"] == {"small": 1.5, "big": 5.0}
    assert families["stratloop_llm_model_cost"]["big"] == 2.4
    assert families["stratloop_llm_model_acceptance_rate"] == {"small": 1.0, "big": 1.0}
    assert families["stratloop_llm_model_improvement_rate"] == {"small": 1.0, "big": 0.0}


def test_no_calls_no_samples() -> None:
    """A factor-graph run has the families but no made-up samples."""
    families = _metrics([record_at(0)])
    assert families["stratloop_llm_model_calls"] == {}
