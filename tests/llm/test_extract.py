import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratloop.errors import LLMGenerationError
from stratloop.llm._extract import ReplyBounds, extract_object

SPEC = {"expression": "rank(returns)", "portfolio": {"kind": "top_n", "n": 5}}
BOUNDS = ReplyBounds()


def _extract(text: str) -> dict:
    return extract_object(text, BOUNDS)


class TestExtractObject:
    def test_json_fence(self) -> None:
        """A ```json block among prose is the spec."""
        text = f"Here you go:\n```json\n{json.dumps(SPEC)}\n```\nGood luck!"
        assert _extract(text) == SPEC

    def test_bare_object_in_prose(self) -> None:
        """Without a fence, the one balanced object is the spec."""
        assert _extract(f"My idea {json.dumps(SPEC)} -- thanks") == SPEC

    def test_braces_inside_strings(self) -> None:
        """Braces inside JSON strings do not end the object."""
        spec = {**SPEC, "rationale": 'uses {braces} and \\"quotes\\" }'}
        assert _extract(json.dumps(spec)) == spec

    def test_yaml_fence(self) -> None:
        """A ```yaml block is read with safe_load."""
        text = "```yaml\nexpression: rank(returns)\nportfolio:\n  kind: top_n\n  n: 5\n```"
        assert _extract(text) == SPEC

    def test_plain_yaml_mapping(self) -> None:
        """A reply that is a plain YAML mapping with an expression is accepted."""
        assert _extract("expression: rank(returns)\nportfolio: {kind: top_n, n: 5}") == SPEC

    def test_prose_without_spec(self) -> None:
        """Prose with no object is LLMGenerationError saying what to send."""
        with pytest.raises(LLMGenerationError, match="no JSON object"):
            _extract("I think momentum works well: buy winners, sell losers.")

    def test_two_objects(self) -> None:
        """Two objects are ambiguous and rejected."""
        with pytest.raises(LLMGenerationError, match="2 JSON objects"):
            _extract(f"{json.dumps(SPEC)} or maybe {json.dumps(SPEC)}")

    def test_two_fences(self) -> None:
        """Two spec blocks are ambiguous and rejected."""
        block = f"```json\n{json.dumps(SPEC)}\n```"
        with pytest.raises(LLMGenerationError, match="2 fenced blocks"):
            _extract(block + "\n" + block)

    def test_python_fence_is_not_a_spec(self) -> None:
        """A code block is refused as code, not run."""
        text = "```python\n__import__('os').system('echo hacked')\n```"
        with pytest.raises(LLMGenerationError, match="data, not code"):
            _extract(text)

    def test_cut_off_reply(self) -> None:
        """An unbalanced object (a truncated reply) says it looks cut off."""
        with pytest.raises(LLMGenerationError, match="cut off"):
            _extract('{"expression": "rank(returns)", "portfolio": {"kind"')

    def test_json_error_is_chained(self) -> None:
        """A JSON syntax error is chained as the cause."""
        with pytest.raises(LLMGenerationError) as caught:
            _extract("{'expression': 'single quotes'}")
        assert isinstance(caught.value.__cause__, json.JSONDecodeError)

    @pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
    def test_non_finite_numbers(self, constant) -> None:
        """NaN and infinities are not numbers a spec may hold."""
        with pytest.raises(LLMGenerationError, match=constant):
            _extract(
                '{"expression": "close", "portfolio": {"kind": "threshold", "upper": '
                + constant
                + "}}"
            )

    def test_duplicate_keys(self) -> None:
        """A key given twice is rejected rather than last-one-wins."""
        with pytest.raises(LLMGenerationError, match="duplicate key 'expression'"):
            _extract('{"expression": "close", "expression": "rank(returns)"}')

    def test_too_long(self) -> None:
        """A reply over the size bound is refused before parsing."""
        with pytest.raises(LLMGenerationError, match="20001 characters"):
            _extract("x" * 20_001)

    def test_too_deep(self) -> None:
        """Deep nesting is refused before json.loads can recurse."""
        with pytest.raises(LLMGenerationError, match="deeper than 8"):
            _extract("{" + '"a": [' * 2000 + "]" * 2000 + "}")

    def test_yaml_alias_bomb(self) -> None:
        """YAML anchors and aliases (billion laughs) are refused."""
        text = "```yaml\na: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n```"
        with pytest.raises(LLMGenerationError, match="anchors or aliases"):
            _extract(text)

    def test_yaml_python_tag(self) -> None:
        """A YAML tag such as !!python/object is refused, never constructed."""
        text = "```yaml\nexpression: !!python/object/apply:os.system ['echo hacked']\n```"
        with pytest.raises(LLMGenerationError, match="tag"):
            _extract(text)

    def test_huge_integer(self) -> None:
        """An integer too long to convert is a typed error, not a crash."""
        with pytest.raises(LLMGenerationError):
            _extract('{"n": ' + "9" * 5000 + "}")

    def test_array_is_not_a_spec(self) -> None:
        """A top-level list has no object to take."""
        with pytest.raises(LLMGenerationError):
            _extract("```json\n[1, 2, 3]\n```")

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=400) | st.text(alphabet='{}[]":,\\ ab1`\n-&*!', max_size=400))
    def test_arbitrary_text(self, text) -> None:
        """Any text ends as a mapping or LLMGenerationError, quickly."""
        started = time.monotonic()
        try:
            value = _extract(text)
        except LLMGenerationError:
            pass
        else:
            assert isinstance(value, dict)
        assert time.monotonic() - started < 1.0
