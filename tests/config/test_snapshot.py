from __future__ import annotations

import json

from hypothesis import assume, given
from hypothesis import strategies as st

from stratloop.config import config_hash, default_config, resolve_api_key, snapshot, validate_config
from stratloop.flags import Flags


def _with_url(url):
    return validate_config(
        {
            "version": 1,
            "generation": {"use_factor_graph": True, "innovation_rate": 0},
            "llm": {"base_url": url, "api_key_env": "MY_KEY"},
        },
        flags=Flags(),
    )


class TestSnapshot:
    def test_json_ready_and_hash_stable(self):
        """The snapshot is JSON and its hash is the same for equal configs."""
        data = snapshot(default_config())
        json.dumps(data)
        assert config_hash(default_config()) == config_hash(data)
        assert len(config_hash(data)) == 64

    def test_hash_changes_with_content(self):
        """A different value gives a different hash."""
        other = default_config().model_copy(update={"version": 1})
        assert config_hash(other) == config_hash(default_config())
        assert config_hash(_with_url("http://a/v1")) != config_hash(_with_url("http://b/v1"))

    @given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=20))
    def test_credentials_in_url_never_appear(self, secret):
        """User-info and key/token parameters in base_url are redacted."""
        # A "secret" that is a substring of a key name (e.g. "iteratio") proves nothing.
        assume(secret not in json.dumps(snapshot(_with_url("https://host/v1?x=1"))))
        config = _with_url(f"https://user:{secret}@host/v1?key={secret}&x=1")
        assert secret not in json.dumps(snapshot(config))

    def test_api_key_only_from_environment(self):
        """The key is read from the named variable; the snapshot keeps only the name."""
        config = _with_url("http://127.0.0.1/v1")
        assert resolve_api_key(config.llm, {"MY_KEY": "sk-secret"}) == "sk-secret"
        assert resolve_api_key(config.llm, {"MY_KEY": ""}) is None
        assert "sk-secret" not in json.dumps(snapshot(config))
        assert snapshot(config)["llm"]["api_key_env"] == "MY_KEY"
