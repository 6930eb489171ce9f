"""``stratloop serve``: the learning loop as a service with /health, /metrics and a dashboard."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from stratloop.cli._app import app, command, err_console
from stratloop.cli._options import EnvironmentOption, FlagsFileOption
from stratloop.cli._plugins import PROBES_GROUP, load_group
from stratloop.flags import open_flag_source

if TYPE_CHECKING:
    from stratloop.config.models import StratloopConfig
    from stratloop.environments import Environment
    from stratloop.flags import FlagSource
    from stratloop.service import Measurement, ProbeProvider

__all__ = ["serve"]

_GIL_SWITCH_S = 0.001
"""The interpreter's thread switch interval under serve (Python's default is 5 ms).

The loop thread runs Python code most of the time; a request waits for it to
hand over the interpreter, up to this long. 1 ms keeps /health's answer time
well under 5 ms at a negligible cost to the loop.
"""


def effective_config(
    env: Environment, config: Path | None, flags: FlagSource, overrides: dict[str, Any]
) -> tuple[StratloopConfig, dict[str, Any]]:
    """The effective configuration and its document (what the health probes take)."""
    from stratloop.config import load_config  # noqa: PLC0415 - pydantic; keep --help fast

    path = config or env.config_path
    effective = load_config(path, flags=flags.current(), overrides=overrides, layers=[env.layer()])
    return effective, env.config_document(path)


def health_probes(config: StratloopConfig, document: dict[str, Any]) -> ProbeProvider | None:
    """The installed ``stratloop.health_probes``, bound to this configuration (None: none)."""
    probes = [probe for _, probe in load_group(PROBES_GROUP)]
    if not probes:
        return None

    def measure() -> dict[str, Measurement]:
        found: dict[str, Measurement] = {}
        for probe in probes:
            found.update(probe(config, document))
        return found

    return measure


def default_port(service_url: str) -> int:
    """The port of an environment's ``service_url`` (80/443 when it names none)."""
    parts = urlsplit(service_url)
    if parts.port is not None:
        return parts.port
    return 443 if parts.scheme == "https" else 80


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _refuse_remote(host: str) -> typer.BadParameter:
    return typer.BadParameter(
        f"{host} is not a loopback address: /health, /metrics and the dashboard have no "
        "authentication and show the run's configuration, flags and progress to anyone who can "
        "reach the port; bind 127.0.0.1 (the default) behind a reverse proxy, or pass "
        "--allow-remote to bind it anyway",
        param_hint="'--host'",
    )


@command(app, "serve")
def serve(
    environment: EnvironmentOption = "local",
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Configuration YAML (default: the environment's)."),
    ] = None,
    flags_file: FlagsFileOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(
            "--port", min=0, max=65535, help="Port (default: the environment's service_url port)."
        ),
    ] = None,
    iterations: Annotated[
        int | None, typer.Option("--iterations", "-n", min=1, help="Iterations in the run.")
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            metavar="RUN_ID|latest",
            help="Continue this run (or the environment's latest) instead of starting one.",
        ),
    ] = None,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow --host to be a non-loopback address (the endpoints are unauthenticated).",
        ),
    ] = False,
) -> None:
    """Run the learning loop as a service: GET /health, GET /metrics, and a dashboard at /.

    Flags are re-read at every iteration boundary (from the environment, or
    --flags-file), so a rollback needs no restart; a bad flags file pauses the
    loop there (/health says degraded, with the reason) until it is fixed.
    Ctrl-C stops the loop after its current batch and then the server. The
    service binds 127.0.0.1; another address is refused without --allow-remote.
    """
    from stratloop.environments import (  # noqa: PLC0415 - pydantic; keep --help fast
        load_environment,
    )
    from stratloop.service import (  # noqa: PLC0415 - numpy; keep --help fast
        LoopService,
        Monitor,
        create_app,
        server,
    )

    if not is_loopback(host):
        if not allow_remote:
            raise _refuse_remote(host)
        err_console.print(
            f"[yellow]warning:[/] binding {host}, reachable from other machines: /health, "
            "/metrics and the dashboard have no authentication"
        )
    env = load_environment(environment)
    flags = open_flag_source(flags_file)
    overrides = {} if iterations is None else {"loop.iterations": iterations}
    effective, base = effective_config(env, config, flags, overrides)
    if resume is None:
        service = LoopService(effective, flags, audit_path=Path(effective.audit.path))
    else:
        service = LoopService(effective, flags, resume=resume, iterations=iterations)
    monitor = Monitor(service, health_probes(service.config, base))
    bound = default_port(env.service_url) if port is None else port
    action = "serving" if resume is None else "resuming"
    err_console.print(
        f"{action} run {service.run_id} on http://{host}:{bound} (environment {environment}); "
        "dashboard at /, GET /api/runs, /health, /metrics"
    )
    sys.setswitchinterval(_GIL_SWITCH_S)
    server(create_app(monitor), host, bound).run()
