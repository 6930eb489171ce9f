"""The loop in a child process, so that the server never waits for it: how ``stratloop serve`` runs.

In one process the loop's thread and the server's event loop share the
interpreter lock: a ``/health`` request that arrives while the loop runs
Python code waits for the lock (up to the switch interval, 5 ms by default,
often several in a row), and every request's work is taken from the loop.
:class:`LoopProcess` therefore runs the loop, the monitor and the
:class:`~stratloop.service.snapshot.SnapshotPublisher` (a
:class:`~stratloop.service.app.LocalBackend`) in a child process, which
sends each publication (its pre-rendered ``/health`` and ``/metrics``
answers) to the server process through a pipe. The server process only
answers requests from the latest publication it received, and reads the run
directories for ``/api`` and the dashboard.

Everything else is the loop as before: the child creates (or resumes) the run
and holds its lock (one writer per run), re-reads the flags at every
iteration boundary and pauses on a bad flags file. The server process stops
it by a message (the child ignores Ctrl-C: the server process receives it too
and asks the loop to stop after its current batch, so the run stays
resumable); a child whose server process is gone (the pipe's other end is
closed) stops the same way. A child that ends without being asked is not
hidden: from then on ``/health`` is ``unhealthy`` (503) and says so.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import multiprocessing as mp
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from stratloop.errors import RunError
from stratloop.service.app import LocalBackend
from stratloop.service.health import Monitor
from stratloop.service.snapshot import Published

__all__ = ["LoopProcess", "MonitorFactory"]

MonitorFactory = Callable[[], Monitor]
"""Builds the child's monitor over its (not yet started) :class:`LoopService`.

It is pickled to the child (``spawn``): a module-level function or an instance
of a module-level class whose fields pickle.
"""

_PUBLISHED = "published"
_STARTED = "started"
_FAILED = "failed"
_STOP = "stop"


class LoopProcess:
    """A :class:`~stratloop.service.app.Backend` whose loop and publisher run in a child process.

    Args:
        build: builds the child's monitor (see :data:`MonitorFactory`).
        run_id: the run the child runs (the server names it in its dashboard).
        runs_dir: the runs directory the server reads.
        audit_path: the run's audit trail (the server serves its checkpoint).
    """

    def __init__(
        self, build: MonitorFactory, *, run_id: str, runs_dir: Path, audit_path: Path
    ) -> None:
        self._build = build
        self._run_id = run_id
        self._runs_dir = runs_dir
        self._audit_path = audit_path
        self._latest: Published | None = None
        self._conn: Connection | None = None
        self._process: BaseProcess | None = None
        self._receiver: threading.Thread | None = None
        self._stopping = threading.Event()
        self.start_error: RunError | None = None
        """Why the child could not start the run, once :meth:`start` has failed."""

    @property
    def runs_dir(self) -> Path:
        """The runs directory."""
        return self._runs_dir

    @property
    def audit_path(self) -> Path:
        """The run's audit trail."""
        return self._audit_path

    @property
    def run_id(self) -> str:
        """The run the child runs."""
        return self._run_id

    @property
    def pid(self) -> int | None:
        """The child's process id (None before :meth:`start`)."""
        return None if self._process is None else self._process.pid

    def latest(self) -> Published:
        """The latest publication the child sent."""
        published = self._latest
        if published is None:
            return Published.failed(RunError("the loop process has not published yet"))
        return published

    def start(self) -> None:
        """Start the child and wait until it has started the run and published once.

        Raises:
            RunError: the child could not start the run (its message says why),
                or it ended before saying.
        """
        ctx = mp.get_context("spawn")
        conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(
            target=_child_main, args=(child_conn, self._build), name="stratloop-loop"
        )
        process.start()
        child_conn.close()
        self._conn, self._process = conn, process
        atexit.register(self._close)
        try:
            while (message := self._receive()) is not None and message[0] == _PUBLISHED:
                self._latest = message[1]
        except BaseException:
            self._close()
            raise
        if message is None or message[0] == _FAILED:
            process.join()
            self._close()
            why = (
                message[1]
                if message is not None
                else f"the loop process ended (exit code {process.exitcode}) before starting"
            )
            self.start_error = RunError(f"the loop could not start: {why}")
            raise self.start_error
        self._receiver = threading.Thread(
            target=self._receive_all, name="stratloop-loop-receiver", daemon=True
        )
        self._receiver.start()

    def stop(self, timeout: float | None) -> None:
        """Ask the child to stop after its current batch; wait for its last publication and exit.

        A child still running after ``timeout`` seconds (None: no limit) is
        terminated, and ``/health`` says so (the run's committed iterations
        stay; resume it).
        """
        if self._process is None or self._conn is None:
            return
        self._stopping.set()
        with contextlib.suppress(OSError):  # a child already gone: the receiver reported it
            self._conn.send((_STOP,))
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
            self._latest = Published.failed(
                RunError(
                    f"the loop did not stop within {timeout} s and was terminated; resume "
                    f"run {self._run_id} with `stratloop serve --resume {self._run_id}`"
                )
            )
        if self._receiver is not None:
            self._receiver.join(timeout)
        self._close()

    def _receive(self) -> tuple[Any, ...] | None:
        """The child's next message, or None once it has closed its end."""
        assert self._conn is not None  # only called once started
        try:
            message: tuple[Any, ...] = self._conn.recv()
        except (EOFError, OSError):
            return None
        return message

    def _receive_all(self) -> None:
        """Keep the latest publication; report a child that ends without being asked."""
        while (message := self._receive()) is not None:
            if message[0] == _PUBLISHED:
                self._latest = message[1]
        if not self._stopping.is_set():
            assert self._process is not None  # started before the receiver
            self._process.join()
            self._latest = Published.failed(
                RunError(
                    f"the loop process ended unexpectedly (exit code {self._process.exitcode}); "
                    f"run {self._run_id} keeps its committed iterations: resume it with "
                    f"`stratloop serve --resume {self._run_id}`"
                )
            )

    def _close(self) -> None:
        """Close the pipe: a child still running sees its end and stops after its batch."""
        atexit.unregister(self._close)
        if self._conn is not None:
            self._conn.close()


def _child_main(conn: Connection, build: MonitorFactory) -> None:
    """The child: run the loop and its publisher, send every publication, stop when told."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sending = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with sending:
            conn.send(message)

    def forward(published: Published) -> None:
        sent = dataclasses.replace(published, snapshot=None)
        sent.health_response  # noqa: B018 - rendered here, not in the server process
        sent.metrics_response  # noqa: B018 - rendered here, not in the server process
        try:
            send((_PUBLISHED, sent))
        except OSError:
            return  # the server process is gone; the main thread sees it and stops the loop

    try:
        backend = LocalBackend(build(), on_publish=forward)
        backend.start()
    except Exception as exc:  # noqa: BLE001 - handed to the server process, which raises it
        send((_FAILED, f"{type(exc).__name__}: {exc}"))
        return
    send((_STARTED,))
    with contextlib.suppress(EOFError, OSError):  # the server process is gone: stop as if asked
        conn.recv()
    backend.stop(None)
