"""Entry points other packages contribute: commands (``stratloop.cli``) and probes.

An entry point of ``stratloop.cli`` is a callable ``register(app)`` that adds
commands to the root app or its groups; one of ``stratloop.health_probes`` is
a callable ``probes(config, document)`` returning measurements, which
``stratloop serve`` reports on /health and /metrics. Entry points load in the
order of their names; one that fails stops the program with a
:class:`~stratloop.errors.PluginError` naming it.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import typer

from stratloop.errors import PluginError

__all__ = ["CLI_GROUP", "PROBES_GROUP", "load_group", "register_commands"]

CLI_GROUP = "stratloop.cli"
PROBES_GROUP = "stratloop.health_probes"


def load_group(group: str) -> list[tuple[str, Any]]:
    """Every entry point of ``group``, loaded, as ``(name, object)`` in name order.

    Raises:
        PluginError: an entry point cannot be imported (the message names it).
    """
    loaded = []
    for point in sorted(entry_points(group=group), key=lambda p: p.name):
        try:
            loaded.append((point.name, point.load()))
        except Exception as exc:
            raise PluginError(
                f"entry point {point.name!r} ({point.value}) of group {group} failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return loaded


def register_commands(app: typer.Typer) -> None:
    """Let every ``stratloop.cli`` entry point add its commands to ``app``.

    Raises:
        PluginError: an entry point cannot be loaded or its ``register`` fails.
    """
    for name, register in load_group(CLI_GROUP):
        try:
            register(app)
        except Exception as exc:
            raise PluginError(
                f"entry point {name!r} of group {CLI_GROUP} failed to register its commands: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
