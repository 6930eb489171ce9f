from __future__ import annotations

import pytest

from stratloop.flags import Flags
from stratloop.generation import GenerationContext, generate_iteration, implementation_for
from stratloop.generation.testing import config_with, drawing_source

FG = drawing_source("factor_graph")
LLM = drawing_source("llm")


class TestImplementationFor:
    @pytest.mark.parametrize(
        ("flags", "expected"),
        [
            (Flags(), "strategy_pattern"),
            (Flags(phase3=False), "procedural"),
            (Flags(master=False), "legacy"),
            (Flags(phase1=False, phase3=False), "legacy"),
        ],
    )
    def test_flags_choose_the_path(self, flags, expected):
        """Master off or Phase 1 off is legacy; Phase 3 on is the strategy pattern."""
        assert implementation_for(flags) == expected


class TestGenerateIteration:
    @pytest.mark.parametrize(
        ("flags", "implementation"),
        [
            (Flags(), "strategy_pattern"),
            (Flags(phase3=False), "procedural"),
            (Flags(master=False), "legacy"),
        ],
    )
    def test_dispatches_and_records_the_implementation(self, flags, implementation):
        """The outcome says which code path ran."""
        ctx = GenerationContext.create(config_with(None, 50.0), 5)
        outcome = generate_iteration(ctx, flags, llm=LLM, factor_graph=FG)
        assert outcome.implementation == implementation
        assert outcome.succeeded

    def test_rollback_changes_only_the_path_not_the_result(self):
        """Turning Phase 3 off gives the same candidate for the same iteration."""
        config = config_with(None, 50.0)
        on = generate_iteration(
            GenerationContext.create(config, 9), Flags(), llm=LLM, factor_graph=FG
        )
        off = generate_iteration(
            GenerationContext.create(config, 9),
            Flags(phase3=False),
            llm=LLM,
            factor_graph=FG,
        )
        assert on.candidate == off.candidate
        assert on.decision == off.decision
