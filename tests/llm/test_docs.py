import doctest
from pathlib import Path

import pytest

import stratloop.acceptance.llm_server
import stratloop.llm.budget
import stratloop.llm.client
import stratloop.llm.prompts
import stratloop.llm.proposer
import stratloop.llm.response
from stratloop.config.models import LLMConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "llm.md"


class TestDocs:
    @pytest.mark.parametrize(
        "module",
        [
            stratloop.llm.budget,
            stratloop.llm.client,
            stratloop.llm.prompts,
            stratloop.llm.proposer,
            stratloop.llm.response,
            stratloop.acceptance.llm_server,
        ],
    )
    def test_doctests(self, module) -> None:
        """Every >>> example in the LLM modules runs."""
        assert doctest.testmod(module, verbose=False, report=False).failed == 0

    def test_every_llm_key_is_documented(self) -> None:
        """docs/llm.md names every field of the llm section."""
        text = DOC.read_text(encoding="utf-8")
        missing = [name for name in LLMConfig.model_fields if f"llm.{name}" not in text]
        assert missing == []

    @pytest.mark.parametrize(
        "provider",
        ["OpenAI", "OpenRouter", "Gemini", "Ollama", "vLLM", "llama.cpp"],
    )
    def test_every_provider_is_documented(self, provider) -> None:
        """docs/llm.md has a section per supported endpoint with a key variable."""
        text = DOC.read_text(encoding="utf-8")
        section = text.split(f"### {provider}", 1)[1].split("\n### ", 1)[0]
        assert "base_url:" in section
        assert "model:" in section
