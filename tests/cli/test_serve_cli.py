"""``stratloop serve`` and ``run``: the bind address, flagd flags files, resume (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from service.service_helpers import make_environment, serving, wait_for
from stratloop.cli import app
from stratloop.cli.serve import is_loopback
from stratloop.flags import FLAG_VARIABLES


def _flagd(path: Path, **off: bool) -> None:
    """A flagd file naming every flag, on unless listed in ``off``."""
    flags = {
        name: {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off" if off.get(name) else "on",
        }
        for name in FLAG_VARIABLES
    }
    path.write_text(json.dumps({"flags": flags}))


class TestBindAddress:
    @pytest.mark.parametrize(
        ("host", "loopback"),
        [
            ("127.0.0.1", True),
            ("127.3.2.1", True),
            ("localhost", True),
            ("::1", True),
            ("[::1]", True),
            ("0.0.0.0", False),  # noqa: S104 - the address under test
            ("::", False),
            ("10.1.2.3", False),
            ("example.org", False),
        ],
    )
    def test_loopback_addresses(self, host: str, loopback: bool) -> None:
        """Only localhost, 127.0.0.0/8 and ::1 count as loopback; a host name does not."""
        assert is_loopback(host) is loopback

    def test_a_remote_address_is_refused_without_allow_remote(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--host 0.0.0.0 stops before anything starts and names --allow-remote."""
        monkeypatch.chdir(make_environment(tmp_path))
        result = CliRunner().invoke(app, ["serve", "-e", "t", "--host", "0.0.0.0"])  # noqa: S104
        assert result.exit_code == 2
        assert "--allow-remote" in result.output
        assert "no authentication" in result.output
        assert not (tmp_path / "runs").exists()

    def test_allow_remote_warns(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With --allow-remote the bind goes ahead, with a warning (here the environment fails)."""
        monkeypatch.chdir(tmp_path)
        result = CliRunner().invoke(
            app,
            ["serve", "-e", "nope", "--host", "0.0.0.0", "--allow-remote"],  # noqa: S104
        )
        assert "warning: binding 0.0.0.0" in result.output
        assert "no authentication" in result.output
        assert result.exit_code != 0
        assert "nope" in result.output


class TestFlagsFiles:
    def test_run_reads_a_flagd_json_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Run --flags-file flags.json is read by flagd (it used to be parsed as dotenv)."""
        monkeypatch.chdir(make_environment(tmp_path))
        _flagd(tmp_path / "flags.json", PHASE4_AUDIT_TRAIL=True)
        result = CliRunner().invoke(
            app,
            ["run", "-e", "t", "--no-progress", "-n", "2", "--flags-file", "flags.json"],
        )
        assert result.exit_code == 0, result.output
        history = next((tmp_path / "runs" / "t").glob("*/history.jsonl")).read_text()
        records = [json.loads(line) for line in history.splitlines()]
        assert [r["flags"]["phase4_enabled"] for r in records] == [False, False]
        assert records[0]["flags"]["source"] == f"flagd file {Path('flags.json')}"

    def test_run_refuses_a_flags_file_without_every_flag(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An emptied flags file stops run before it starts, naming the flag and the file."""
        monkeypatch.chdir(make_environment(tmp_path))
        (tmp_path / "flags.env").write_text("")
        result = CliRunner().invoke(
            app, ["run", "-e", "t", "--no-progress", "-n", "2", "--flags-file", "flags.env"]
        )
        assert result.exit_code == 1
        assert "ENABLE_GENERATION_REFACTORING is not set" in result.output
        assert "flags.env" in result.output

    @pytest.mark.slow
    def test_serve_reads_a_flagd_json_file_and_follows_it(self, tmp_path: Path) -> None:
        """Serve --flags-file flags.json: /health shows flagd's values and picks up an edit."""
        root = make_environment(tmp_path, iterations=200)
        flags = root / "flags.json"
        _flagd(flags)
        with serving(root, flags, iterations=200) as url:
            body = httpx.get(url + "/health", timeout=10).json()
            assert body["flags_source"] == f"flagd file {flags}"
            assert body["phase4_enabled"] is True
            _flagd(flags, PHASE4_AUDIT_TRAIL=True)
            wait_for(
                lambda: httpx.get(url + "/health", timeout=10).json()["phase4_enabled"] is False,
                timeout=10,
                what="the edit to be published",
            )


class TestResume:
    def test_resume_of_an_unknown_run_is_an_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Serve --resume with no such run stops before serving, naming what exists."""
        monkeypatch.chdir(make_environment(tmp_path))
        result = CliRunner().invoke(app, ["serve", "-e", "t", "--resume", "latest"])
        assert result.exit_code == 1
        assert "no run in" in result.output
        assert "to resume" in result.output
