"""``stratloop serve``: the learning loop as a service with /health, /metrics and a dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from stratloop.cli._app import app, err_console, handle_errors
from stratloop.cli._options import EnvironmentOption, FlagsFileOption
from stratloop.cli._plugins import PROBES_GROUP, load_group
from stratloop.flags import DotenvFlagSource, EnvFlagSource

if TYPE_CHECKING:
    from stratloop.config.models import StratloopConfig
    from stratloop.environments import Environment
    from stratloop.flags import FlagSource
    from stratloop.service import Measurement, ProbeProvider

__all__ = ["serve"]


def flag_source(flags_file: Path | None) -> FlagSource:
    """The environment's flags, or a dotenv flags file re-read when it changes."""
    return EnvFlagSource() if flags_file is None else DotenvFlagSource(flags_file)


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


@app.command("serve")
@handle_errors
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
) -> None:
    """Run the learning loop as a service: GET /health, GET /metrics, and a dashboard at /.

    Flags are re-read at every iteration boundary (from the environment, or
    --flags-file), so a rollback needs no restart. Ctrl-C stops the loop after
    its current batch and then the server.
    """
    import uvicorn  # noqa: PLC0415 - uvicorn; keep --help fast

    from stratloop.environments import (  # noqa: PLC0415 - pydantic; keep --help fast
        load_environment,
    )
    from stratloop.service import (  # noqa: PLC0415 - numpy; keep --help fast
        LoopService,
        Monitor,
        create_app,
    )

    env = load_environment(environment)
    flags = flag_source(flags_file)
    overrides = {} if iterations is None else {"loop.iterations": iterations}
    effective, base = effective_config(env, config, flags, overrides)
    service = LoopService(effective, flags, audit_path=Path(effective.audit.path))
    monitor = Monitor(service, health_probes(effective, base))
    bound = default_port(env.service_url) if port is None else port
    err_console.print(
        f"serving run {service.run_id} on http://{host}:{bound} (environment {environment}); "
        "dashboard at /, GET /api/runs, /health, /metrics"
    )
    uvicorn.run(create_app(monitor), host=host, port=bound, log_level="warning")
