"""One redaction for every text that leaves the process: URLs, parameters, tokens, known keys."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iteration_records import record_at
from stratloop.cli import main
from stratloop.config import validate_config
from stratloop.errors import ConfigValidationError
from stratloop.iteration import IterationRecord, StageError
from stratloop.redaction import REDACTED, is_secret_key, redact_text

_SECRET = st.lists(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"),
    min_size=8,
    max_size=24,
).map("".join)
_WORDS = st.lists(st.sampled_from(" ,:;!?()"), max_size=12).map("".join)
"""Surrounding text that cannot contain a secret by chance."""


class TestRedactText:
    @settings(max_examples=300, deadline=None)
    @given(user=_SECRET, password=_SECRET, key=_SECRET, before=_WORDS, after=_WORDS)
    def test_no_credential_survives_in_a_url(self, user, password, key, before, after):
        """User-info and key parameters of any URL inside any message are hidden."""
        url = f"http://{user}:{password}@llm.example:8080/v1?api_key={key}&model=m"
        text = redact_text(f"{before} {url} {after}")
        assert password not in text
        assert f"{user}:" not in text
        assert f"api_key={key}" not in text
        assert "model=m" in text

    @settings(max_examples=200, deadline=None)
    @given(secret=_SECRET, before=_WORDS, after=_WORDS)
    def test_a_known_secret_is_hidden_wherever_it_stands(self, secret, before, after):
        """The configured API key is replaced even outside any URL."""
        text = redact_text(f"{before}{secret}{after}", secrets=(secret,))
        assert secret not in text
        assert redact_text(text, secrets=(secret,)) == text

    def test_bearer_tokens_and_key_shapes(self):
        """Authorization headers and OpenAI-style keys quoted in a reply are hidden."""
        text = redact_text("401: Bearer abc.def-123 rejected; key sk-proj-ABCDEFGH1234 unknown")
        assert "abc.def-123" not in text
        assert "sk-proj" not in text
        assert text.count(REDACTED) == 2

    def test_secret_looking_keys(self):
        """api_key, token and password are secrets; a variable's name (*_env) is not."""
        assert is_secret_key("llm.api_key")
        assert is_secret_key("auth_token")
        assert not is_secret_key("llm.api_key_env")
        assert not is_secret_key("innovation_rate")


class TestWhereTextLeaves:
    def test_a_failed_iteration_never_records_the_endpoint_credentials(self):
        """The history line and everything projected from it lose the URL's user and password."""
        message = "the LLM endpoint http://alice:s3cret@10.0.0.1/v1?api_key=k-123456 is down"
        failed = record_at(0, kind=2)
        record = IterationRecord.build(
            iteration_num=0,
            batch=0,
            timestamp="t",
            flags={},
            outcome=failed.outcome.__class__(
                **{**_fields(failed.outcome), "error_message": message}
            ),
            status="generation_failed",
            error=StageError("generation", "LLMUnavailableError", message),
            timings=failed.timings,
        )
        line = record.to_json()
        assert "s3cret" not in line
        assert "k-123456" not in line
        assert IterationRecord.from_json(line) == record
        assert json.loads(line)["error"]["message"].startswith("the LLM endpoint http://<redacted>@")

    def test_config_validate_never_echoes_a_secret_value(self):
        """A mistyped secret-looking field is named, its value is not."""
        document = {
            "version": 1,
            "generation": {"use_factor_graph": True, "innovation_rate": 0},
            "llm": {"api_key": "sk-live-0123456789abcdef"},
        }
        with pytest.raises(ConfigValidationError) as caught:
            validate_config(document)
        assert "sk-live" not in str(caught.value)
        assert "api_key" in str(caught.value)

    def test_the_config_command_never_echoes_a_secret_value(self, tmp_path, capsys):
        """`stratloop config validate` names the mistyped key and hides what it held."""
        path = tmp_path / "c.yaml"
        path.write_text(
            "version: 1\ngeneration: {use_factor_graph: true, innovation_rate: 0}\n"
            "llm: {api_key: sk-live-0123456789abcdef}\n"
        )
        with pytest.raises(SystemExit):
            main(["config", "validate", str(path)])
        out = capsys.readouterr()
        assert "sk-live" not in out.out + out.err
        assert f"llm.api_key: got {REDACTED}" in out.out + out.err


def _fields(outcome):
    return {name: getattr(outcome, name) for name in outcome.__dataclass_fields__}
