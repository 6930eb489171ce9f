"""Concurrent keep-alive HTTP clients for the /health load benchmark (run as a subprocess).

Usage: ``python bench/_health_clients.py PORT CLIENTS SECONDS RATE PATH``. Each
of CLIENTS clients keeps one HTTP/1.1 connection to 127.0.0.1:PORT and sends
``GET PATH`` for SECONDS: back to back when RATE is 0, else RATE requests a
second each (spread with a random phase). Prints one JSON object: latencies in
ms of every completed request, errors by kind, the wall time and the CPU time the
clients used (on a 2-core host it is taken from the loop as much as the server's).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time

_HEAD_END = b"\r\n\r\n"


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    head = await reader.readuntil(_HEAD_END)
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def _client(
    port: int, path: str, until: float, rate: float, latencies: list[float], errors: dict[str, int]
) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    period = 1.0 / rate if rate > 0 else 0.0
    next_at = time.perf_counter() + random.random() * period
    try:
        while time.perf_counter() < until:
            if period:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_at += period
            start = time.perf_counter()
            try:
                status = await asyncio.wait_for(_request(reader, writer, request), 10.0)
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            latencies.append((time.perf_counter() - start) * 1000.0)
            if status != 200:
                errors[f"HTTP {status}"] = errors.get(f"HTTP {status}", 0) + 1
    finally:
        writer.close()


async def _main(port: int, clients: int, seconds: float, rate: float, path: str) -> None:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        *(_client(port, path, until, rate, latencies, errors) for _ in range(clients))
    )
    print(
        json.dumps(
            {
                "latencies_ms": latencies,
                "errors": errors,
                "wall_s": time.perf_counter() - started,
                "cpu_s": time.process_time(),
            }
        )
    )


if __name__ == "__main__":
    port_, clients_, seconds_, rate_, path_ = sys.argv[1:6]
    asyncio.run(_main(int(port_), int(clients_), float(seconds_), float(rate_), path_))
