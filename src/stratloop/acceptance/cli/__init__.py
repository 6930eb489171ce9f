"""The deployment guide's commands, added to ``stratloop`` by the ``stratloop.cli`` entry point.

``check`` (the Phase 2-4 checks, health checks and production validation),
``loop check-audit-logging``, ``shadow`` (Phase 3 shadow mode), and the
drills of the ``audit`` group. Command
names and options are the guide's; ``scripts/*.py`` wrap them.
"""

from __future__ import annotations

import typer

from stratloop.acceptance.cli import audit, health, loop, shadow, strategy
from stratloop.acceptance.cli.check import check_app

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the guide's command groups to ``app`` and its drills to ``app``'s ``audit`` group.

    Raises:
        LookupError: ``app`` has no ``audit`` group.
    """
    strategy.register(check_app)
    health.register(check_app)
    app.add_typer(check_app)
    app.add_typer(loop.loop_app)
    app.add_typer(shadow.shadow_app)
    audit.register(_group(app, "audit"))


def _group(app: typer.Typer, name: str) -> typer.Typer:
    for group in app.registered_groups:
        instance = group.typer_instance
        if instance is not None and (group.name or instance.info.name) == name:
            return instance
    raise LookupError(f"the stratloop app has no {name!r} command group")
