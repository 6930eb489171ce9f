import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from stratloop.acceptance.llm_server import (
    Disconnect,
    ErrorStatus,
    Hang,
    Malformed,
    NoChoices,
    Reply,
    ScriptedOpenAIServer,
    load_script,
)
from stratloop.errors import ConfigFileError

SERVER = "stratloop.acceptance.llm_server"

SCRIPT = """\
model: rehearsal
cycle: true
steps:
  - status: 429
    retry_after: 2
  - reply: '{"expression": "rank(returns)"}'
    prompt_tokens: 3
  - empty: true
  - no_choices: true
  - hang: 1.5
  - malformed: "{oops"
  - disconnect: true
"""


class TestLoadScript:
    def test_every_kind(self, tmp_path: Path) -> None:
        """Each step kind becomes the matching script step."""
        path = tmp_path / "script.yaml"
        path.write_text(SCRIPT)
        settings, steps = load_script(path)
        assert (settings.model, settings.cycle) == ("rehearsal", True)
        assert isinstance(steps[0], ErrorStatus)
        assert dict(steps[0].headers) == {"Retry-After": "2"}
        assert steps[1] == Reply('{"expression": "rank(returns)"}', 3, 50)
        assert steps[2:] == (Reply(""), NoChoices(), Hang(1.5), Malformed("{oops"), Disconnect())

    @pytest.mark.parametrize(
        "text",
        [
            "steps: []",
            "steps:\n  - reply: a\n    hang: 2",
            "steps:\n  - {}",
            "steps:\n  - status: 999",
            "steps:\n  - replyy: a",
            "[1, 2",
        ],
    )
    def test_bad_files(self, tmp_path: Path, text: str) -> None:
        """A file that is not exactly the documented shape is ConfigFileError naming it."""
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        with pytest.raises(ConfigFileError, match=r"bad\.yaml"):
            load_script(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is ConfigFileError."""
        with pytest.raises(ConfigFileError, match="cannot read"):
            load_script(tmp_path / "nope.yaml")


class TestCycle:
    def test_cycle_restarts_script(self) -> None:
        """With cycle the script starts over instead of running out."""
        with ScriptedOpenAIServer([Reply("a"), Reply("b")], cycle=True) as server:
            url = server.base_url + "/chat/completions"
            texts = [
                httpx.post(url, json={}).json()["choices"][0]["message"]["content"]
                for _ in range(5)
            ]
        assert texts == ["a", "b", "a", "b", "a"]


class TestMain:
    def test_serves_a_file_until_interrupted(self, tmp_path: Path) -> None:
        """``python -m stratloop.acceptance.llm_server FILE`` serves the file's replies."""
        path = tmp_path / "script.yaml"
        path.write_text("steps:\n  - reply: hello\n")
        with ScriptedOpenAIServer() as probe:
            port = int(probe.base_url.rsplit(":", 1)[1].split("/")[0])
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stratloop.acceptance.llm_server",
                str(path),
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            banner = process.stdout.readline()
            assert f"127.0.0.1:{port}/v1" in banner
            reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={})
            assert reply.json()["choices"][0]["message"]["content"] == "hello"
        finally:
            process.terminate()
            process.wait(timeout=10)
            process.stdout.close()

    def test_bad_file_exits_2(self, tmp_path: Path) -> None:
        """A bad script file is reported on stderr with exit code 2, no traceback."""
        path = tmp_path / "bad.yaml"
        path.write_text("steps: []\n")
        result = subprocess.run(
            [sys.executable, "-m", SERVER, str(path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 2
        assert "bad.yaml" in result.stderr
        assert "Traceback" not in result.stderr
