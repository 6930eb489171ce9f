"""Run the deployment guide top to bottom, as written, against ``stratloop serve``.

The guide's bash blocks are read in order and become steps:

- ``export NAME=value`` sets the variable for every later step, as the
  operator's shell would;
- ``# Restart application`` (re)starts ``stratloop serve --environment
  staging`` with the variables set so far and waits until its ``/health``
  shows a committed iteration;
- every other line is a command, run by bash in the checkout; it passes when
  it exits 0. A ``curl`` followed by ``# Expected: {...}`` also passes only
  when the JSON it prints holds those keys with those values.

The one change to the text is the scaling of durations: ``--duration-hours
N`` becomes ``--duration-hours <duration_hours>``. The guide's staging URL is
the caller's business (a curl configuration mapping the host to the
service, as DNS would); :func:`curlrc` writes one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

__all__ = ["GuideReport", "GuideServe", "Step", "StepResult", "curlrc", "guide_steps", "run_guide"]

_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)
_CONTINUATION = re.compile(r"\\\n\s*")
_EXPORT = re.compile(r"export\s+([A-Za-z_][A-Za-z0-9_]*)=(\S*)$")
_EXPECTED = re.compile(r"#\s*Expected:\s*(\{.*\})\s*$")
_DURATION = re.compile(r"(--duration-hours\s+)\S+")
_RESTART = "# Restart application"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the guide: a command, an export or a restart of the service.

    Args:
        kind: ``command``, ``export`` or ``restart``.
        text: the line as the guide writes it (continuations joined).
        line: where its block starts in the guide (1-based).
        expected: for a command followed by ``# Expected: {...}``, that JSON.
    """

    kind: Literal["command", "export", "restart"]
    text: str
    line: int
    expected: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StepResult:
    """How one command went."""

    step: Step
    command: str
    passed: bool
    returncode: int
    seconds: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "line": self.step.line,
            "guide": self.step.text,
            "command": self.command,
            "passed": self.passed,
            "returncode": self.returncode,
            "seconds": round(self.seconds, 2),
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class GuideReport:
    """Every command's result, in the guide's order."""

    results: tuple[StepResult, ...]

    @property
    def passed(self) -> int:
        """Commands that passed."""
        return sum(r.passed for r in self.results)

    @property
    def total(self) -> int:
        """Commands run."""
        return len(self.results)

    def summary(self) -> str:
        """``passed/total`` and each failure with its line and the end of its output."""
        lines = [f"{self.passed}/{self.total} guide commands passed"]
        lines.extend(
            f"line {r.step.line}: {r.command} -> exit {r.returncode}: {r.detail}"
            for r in self.results
            if not r.passed
        )
        return "\n".join(lines)


def guide_steps(text: str) -> list[Step]:
    """The steps of the guide ``text``, in order."""
    steps: list[Step] = []
    for block in _BLOCK.finditer(text):
        start = text.count("\n", 0, block.start()) + 1
        for raw in _CONTINUATION.sub(" ", block.group(1)).splitlines():
            line = " ".join(raw.split())
            expected = _EXPECTED.match(line)
            if expected and steps and steps[-1].kind == "command":
                steps[-1] = Step("command", steps[-1].text, steps[-1].line, json.loads(expected[1]))
            elif line == _RESTART:
                steps.append(Step("restart", line, start))
            elif _EXPORT.match(line):
                steps.append(Step("export", line, start))
            elif line and not line.startswith("#"):
                steps.append(Step("command", line, start))
    return steps


def curlrc(path: Path, host: str, service_url: str) -> Path:
    """Write a curl configuration sending ``http://host/`` to ``service_url`` (as DNS would)."""
    target = service_url.removeprefix("http://").rstrip("/")
    path.mkdir(parents=True, exist_ok=True)
    (path / ".curlrc").write_text(f'connect-to = "{host}:80:{target}"\n', encoding="utf-8")
    return path


@dataclass
class GuideServe:
    """``stratloop serve`` as the guide's "Restart application" restarts it.

    A restart returns once the new run has committed an iteration: the guide's
    checks that follow read the running application's latest run (its
    monitoring periods, scaled down to that first commit).

    Args:
        argv: the serve command (e.g. ``stratloop serve --environment staging``).
        health_url: its ``/health``.
        log: where its output goes.
        start_timeout_s: how long to wait for the first committed iteration.
    """

    argv: Sequence[str]
    health_url: str
    log: Path
    start_timeout_s: float = 300.0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _sink: IO[bytes] | None = field(default=None, init=False)

    def restart(self, cwd: Path, env: Mapping[str, str]) -> str | None:
        """Restart with ``env``; None once the new run committed an iteration, else why not."""
        self.stop()
        self._sink = self.log.open("ab")
        self._process = subprocess.Popen(  # noqa: S603 - the caller's serve command
            list(self.argv), cwd=cwd, env=dict(env), stdout=self._sink, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + self.start_timeout_s
        health: Mapping[str, Any] = {}
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return f"serve exited with {self._process.returncode}; see {self.log}"
            health = _health(self.health_url)
            if int(health.get("iteration") or 0) > 0:
                return None
            if health.get("loop_status") not in {None, "starting", "running"}:
                return f"the loop is {health.get('loop_status')}: {health.get('loop_error')}"
            time.sleep(0.2)
        return (
            f"{self.health_url} showed no committed iteration within {self.start_timeout_s:g} s "
            f"(last answer: {dict(health) or 'none'})"
        )

    def stop(self) -> None:
        """Stop the service (SIGTERM: it finishes its batch), if it runs."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._sink is not None:
            self._sink.close()
        self._process = self._sink = None


def run_guide(
    steps: Sequence[Step],
    checkout: Path,
    env: Mapping[str, str],
    serve: GuideServe,
    *,
    duration_hours: float,
    timeout_s: float = 600.0,
    echo: Callable[[StepResult], None] | None = None,
) -> GuideReport:
    """Run ``steps`` in ``checkout``, top to bottom, and report every command.

    Args:
        steps: from :func:`guide_steps`.
        checkout: the working copy the guide is run in.
        env: the starting environment (the exports are applied on top).
        serve: the service the restarts restart; stopped at the end.
        duration_hours: what every ``--duration-hours`` becomes.
        timeout_s: the longest one command may take.
        echo: called with each command's result as soon as it is known.
    """
    current = dict(env)
    results: list[StepResult] = []
    try:
        for step in steps:
            if step.kind == "export":
                name, _, value = step.text.removeprefix("export ").partition("=")
                current[name.strip()] = value
            elif step.kind == "restart":
                problem = serve.restart(checkout, current)
                if problem is not None:
                    results.append(StepResult(step, step.text, False, -1, 0.0, problem))
            else:
                results.append(_run(step, checkout, current, duration_hours, timeout_s))
            if echo is not None and results and results[-1].step is step:
                echo(results[-1])
    finally:
        serve.stop()
    return GuideReport(tuple(results))


def _run(
    step: Step, cwd: Path, env: Mapping[str, str], duration_hours: float, timeout_s: float
) -> StepResult:
    command = _DURATION.sub(rf"\g<1>{duration_hours:g}", step.text)
    started = time.monotonic()
    try:
        done = subprocess.run(  # noqa: S603 - the guide's own command, run as written
            ["bash", "-c", command],  # noqa: S607 - bash from PATH, as the operator's shell
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return StepResult(step, command, False, -1, timeout_s, f"timed out after {timeout_s:g} s")
    seconds = time.monotonic() - started
    output = (done.stdout + done.stderr).strip()
    tail = " ".join(output[-600:].split())
    if done.returncode != 0:
        return StepResult(step, command, False, done.returncode, seconds, tail)
    if step.expected is not None:
        missing = _unmet(done.stdout, step.expected)
        if missing:
            return StepResult(step, command, False, 0, seconds, missing)
    return StepResult(step, command, True, 0, seconds, tail[-200:])


def _unmet(stdout: str, expected: Mapping[str, Any]) -> str:
    """What of ``expected`` the JSON in ``stdout`` lacks ('' when all is there)."""
    try:
        answer = json.loads(stdout)
    except json.JSONDecodeError:
        return f"expected JSON holding {expected}, got {stdout[:300]!r}"
    wrong = {k: answer.get(k) for k, v in expected.items() if answer.get(k) != v}
    return f"expected {expected}, but got {wrong}" if wrong else ""


def _health(url: str) -> Mapping[str, Any]:
    """The service's ``/health`` JSON (an empty mapping while it does not answer)."""
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:  # noqa: S310 - loopback http
            body = response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
    except (urllib.error.URLError, OSError):
        return {}
    try:
        answer = json.loads(body)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stratloop.acceptance.guide``: run the guide in a checkout, write a JSON report.

    Exit 0 only when every command passed.
    """
    import argparse  # noqa: PLC0415 - only the command line needs it
    import sys  # noqa: PLC0415 - only the command line needs it

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, default=Path.cwd())
    parser.add_argument("--guide", type=Path, default=Path("docs/deployment-guide-phase2-4.md"))
    parser.add_argument("--duration-hours", type=float, default=0.002)
    parser.add_argument("--environment", default="staging")
    parser.add_argument("--report", type=Path, default=Path("guide_run.json"))
    args = parser.parse_args(argv)
    from stratloop.environments import load_environment  # noqa: PLC0415 - pydantic

    checkout = args.checkout.resolve()
    os.chdir(checkout)
    service_url = load_environment(args.environment).service_url.rstrip("/")
    serve = GuideServe(
        [
            str(Path(sys.executable).with_name("stratloop")),
            "serve",
            "--environment",
            args.environment,
        ],
        f"{service_url}/health",
        checkout / "serve.log",
    )
    steps = guide_steps((checkout / args.guide).read_text(encoding="utf-8"))
    done: list[StepResult] = []

    def echo(result: StepResult) -> None:
        """Progress of a long run; the report so far is on disk after every command."""
        done.append(result)
        print(  # noqa: T201 - progress of a long run
            f"{'pass' if result.passed else 'FAIL'} {result.seconds:6.1f} s  "
            f"line {result.step.line}: {result.command}",
            file=sys.stderr,
            flush=True,
        )
        _write_report(args.report, GuideReport(tuple(done)), finished=False)

    report = run_guide(
        steps, checkout, os.environ, serve, duration_hours=args.duration_hours, echo=echo
    )
    _write_report(args.report, report, finished=True)
    print(report.summary())  # noqa: T201 - the command's output
    return 0 if report.passed == report.total else 1


def _write_report(path: Path, report: GuideReport, *, finished: bool) -> None:
    """The JSON report: every command's result so far, and whether the guide ran to its end."""
    payload = {
        "finished": finished,
        "passed": report.passed,
        "total": report.total,
        "seconds": round(sum(r.seconds for r in report.results), 1),
        "commands": [r.as_dict() for r in report.results],
    }
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


if __name__ == "__main__":
    raise SystemExit(main())
