"""``python -m stratloop.llm SCRIPT.yaml``: serve scripted OpenAI replies for a rehearsal."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from stratloop.errors import StratloopError
from stratloop.llm._script_file import load_script
from stratloop.llm.scripted_server import ScriptedOpenAIServer


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a script file until interrupted: ``python -m stratloop.llm FILE``.

    Args:
        argv: ``FILE [--host HOST] [--port PORT]``; defaults to the process arguments.
    """
    parser = argparse.ArgumentParser(
        prog="python -m stratloop.llm",
        description="Serve scripted OpenAI-compatible replies on loopback (staging rehearsals).",
    )
    parser.add_argument("script", type=Path, help="YAML file with model, cycle and steps")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    args = parser.parse_args(argv)
    try:
        settings, steps = load_script(args.script)
    except StratloopError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    server = ScriptedOpenAIServer(
        steps, model=settings.model, host=args.host, port=args.port, cycle=settings.cycle
    )
    sys.stdout.write(f"serving {len(steps)} scripted steps at {server.base_url}\n")
    sys.stdout.flush()
    server.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()



if __name__ == "__main__":
    sys.exit(main())
