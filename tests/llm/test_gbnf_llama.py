"""The generated grammar in llama.cpp's own grammar engine (run by ``make llm-e2e``).

Set ``LLAMA_GBNF_VALIDATOR`` to llama.cpp's ``test-gbnf-validator`` binary; without
it these tests are skipped, since the suite does not build llama.cpp.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from stratloop.acceptance.gbnf import parse_gbnf
from stratloop.factors import Limits
from stratloop.llm.gbnf import strategy_grammar

VALIDATOR = os.environ.get("LLAMA_GBNF_VALIDATOR")
pytestmark = pytest.mark.skipif(
    not VALIDATOR, reason="LLAMA_GBNF_VALIDATOR is not set (make llm-e2e sets it)"
)
FIELDS = frozenset({"close", "open", "high", "low", "volume"})


def _valid_in_llama(grammar: Path, text: str, tmp_path: Path) -> bool:
    sample = tmp_path / "input.txt"
    sample.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [str(VALIDATOR), str(grammar), str(sample)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert "Failed" not in done.stdout, done.stdout
    return "Input string is valid" in done.stdout


def test_llama_accepts_what_the_grammar_derives_and_refuses_what_it_does_not(tmp_path) -> None:
    """Sampled replies are valid in llama.cpp's engine; a level as a signal is not."""
    text = strategy_grammar(FIELDS, Limits())
    grammar = tmp_path / "strategy.gbnf"
    grammar.write_text(text, encoding="utf-8")
    ours = parse_gbnf(text)
    rng = random.Random(11)  # noqa: S311 - test data
    for _ in range(40):
        assert _valid_in_llama(grammar, ours.sample(rng, brevity=0.5), tmp_path)
    bad = json.dumps({"expression": "rank(close)",
                      "portfolio": {"kind": "top_n", "n": 5, "rebalance_days": 21}})
    assert not _valid_in_llama(grammar, bad, tmp_path)
