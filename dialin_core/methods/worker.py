"""A run's work in a process of its own, so that a crash in native code ends the run, not the studio.

A run loads llama.cpp, torch, numba and HDBSCAN; any of them can abort or segfault, and a thread of the
studio's server would take the server down with it. So the studio works each run in a worker process. DuckDB
lets one process open a workspace file at a time, and the server must keep reading it (the live view, the
other pages), so the worker never opens the file: it holds a `RemoteStore`, whose every call is made by the
server's own `Store` and answered over a pipe. The run's rows, steps, progress and pause or cancel requests
are therefore exactly those of a run in a thread; only where the computing happens moves.

Other work that loads native models goes there too, as a job (`do_in_worker`: a function by name, with
progress): teaching an embedder from a review, and the Judge page's LLM asked about the analyst's clusters.

One worker is kept warm between runs (a cold one spends some 20 s importing torch and compiling UMAP's
code before a run's first step), and a dead one is replaced at the next run. Its output goes to the run's
log beside the workspace. When the worker dies mid-run, the serving thread
sees its pipe close, records the run as failed with the signal or exit code and the end of the worker's log
(its standard error: a native crash prints there), and returns; the server goes on answering.
"""

import faulthandler
import importlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from dialin_core.data.store import LIVE_STATUSES, Store
from dialin_core.methods.registry import RunHooks, discovery_method, registered_methods, use_registered

LOG_TAIL_CHARS = 2000  # of the worker's log, kept in a failed run's reason
# What a worker may ask of the server's Store: its public methods, nothing that closes or replaces it.
STORE_CALLS = frozenset(name for name in dir(Store) if not name.startswith("_") and callable(getattr(Store, name))) - {"close"}


class ServerGone(BaseException):
    """The studio's end of the pipe closed: the worker stops. A BaseException, so that no `except Exception`
    in a method's code mistakes it for a failure it can work around."""


class RemoteStore:
    """The workspace as a run in the worker sees it: each method call is carried out by the server's Store."""

    def __init__(self, connection: Connection, path: str) -> None:
        self._connection = connection
        self.path = path

    def __getattr__(self, name: str) -> Any:
        if name not in STORE_CALLS:
            raise AttributeError(f"the workspace has no call {name!r} a worker may make")

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                self._connection.send(("call", name, args, kwargs))
                outcome, value = self._connection.recv()
            except (EOFError, OSError) as error:
                raise ServerGone(str(error)) from error
            if outcome == "raised":
                raise value
            return value

        return call

    def close(self) -> None:
        """The server's Store outlives the run; nothing to close here."""

    def __enter__(self) -> "RemoteStore":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def log_path(workspace: str | Path) -> Path:
    """The latest run's output beside the workspace (the worker's standard error): what a native crash printed."""
    return Path(f"{Path(workspace).expanduser().resolve()}.run.log")


def _serve(connection: Connection) -> None:
    """The worker's body: work each run or job the server sends, until the server goes."""
    faulthandler.enable()  # a segfault's Python stack goes to standard error, the run's log, too
    warnings.filterwarnings("ignore", message="n_jobs value 1 overridden")  # UMAP's, once per fit: it buried the log
    while True:
        try:
            kind, workspace, log, registered, environment, work = connection.recv()
        except (EOFError, OSError):
            return
        _write_output_to(log)
        use_registered(registered)
        _use_environment(environment)
        store = RemoteStore(connection, workspace)
        try:
            outcome = _work_run(store, *work) if kind == "run" else _do_job(store, connection, *work)
            connection.send(outcome)
        except (ServerGone, EOFError, OSError):
            return


def complete_run(store: "Store | RemoteStore", run_id: int, hooks: RunHooks) -> None:
    """Work the run to its end, in the worker or in a thread. The run's row is where the studio reads how a run
    ended (failed, with the error in its summary; paused; cancelled), so every ending is recorded there."""
    try:
        discovery_method(store.run(run_id).method).complete(store, run_id, hooks)
    except Exception as error:  # a pause or cancel (RunStopped) included: the run row says which
        if store.run_status(run_id) in LIVE_STATUSES:  # it failed before the run could record it
            store.fail_run(run_id, f"{type(error).__name__}: {error}")


def _work_run(store: RemoteStore, run_id: int) -> tuple[str, Any]:
    complete_run(store, run_id, RunHooks())
    return ("ended", None)


def _do_job(store: RemoteStore, connection: Connection, function: str, args: tuple, keywords: dict[str, Any]) -> tuple[str, Any]:
    """`function` ("module:name") called as function(store, *args, **keywords, on_progress=...); its progress
    goes to the server as it comes, its result or its error at the end."""
    module, name = function.split(":")

    def progress(done: int, total: int) -> None:
        try:
            connection.send(("progress", done, total))
        except (EOFError, OSError) as error:
            raise ServerGone(str(error)) from error

    try:
        return ("ended", getattr(importlib.import_module(module), name)(store, *args, **keywords, on_progress=progress))
    except Exception as error:
        return ("failed", f"{type(error).__name__}: {error}")


def _use_environment(environment: dict[str, str]) -> None:
    """The server's environment as it is now, so a server URL or key set since the worker started reaches the run."""
    for name in set(os.environ) - set(environment):
        del os.environ[name]
    os.environ.update(environment)


def _write_output_to(log: str) -> None:
    """Point file descriptors 1 and 2 at the run's log (native code writes to them, not to sys.stderr)."""
    sys.stdout.flush()
    sys.stderr.flush()
    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)


@dataclass
class Worker:
    """The server's handle on one worker process."""

    process: subprocess.Popen
    connection: Connection
    turn: threading.Lock = field(default_factory=threading.Lock)  # one run or job on the pipe at a time

    def alive(self) -> bool:
        return self.process.poll() is None

    def ending(self, log: Path) -> str:
        """Why the process ended, in words, with the end of the run's log."""
        try:
            code = self.process.wait(5)
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            how = "stopped answering"
        elif code < 0:
            how = f"was killed by {signal.Signals(-code).name} (signal {-code})"
        else:
            how = f"exited with code {code}"
        tail = log.read_text(errors="replace")[-LOG_TAIL_CHARS:].strip() if log.exists() else ""
        return f"the run's worker process {how}" + (f"; the end of the run's log ({log}):\n{tail}" if tail else "")


_ROOT = str(Path(__file__).resolve().parents[2])  # where `dialin_core` imports from, for the worker too
_worker: Worker | None = None  # this process's warm worker
_guard = threading.Lock()


def current_worker() -> Worker:
    """This process's warm worker, started anew when there is none or it died."""
    global _worker
    with _guard:
        if _worker is None or not _worker.alive():
            # A fresh interpreter, not a fork (which would copy the server's threads' held locks) and not
            # multiprocessing's spawn (which runs the caller's main script again in the child).
            ours, theirs = socket.socketpair()
            process = subprocess.Popen(
                [sys.executable, "-m", "dialin_core.methods.worker", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))},
                start_new_session=True,  # the terminal's Ctrl+C is the server's to handle
            )
            theirs.close()  # only the worker holds its end now: when it dies, ours reads end-of-file
            _worker = Worker(process=process, connection=Connection(ours.detach()))
        return _worker


def worker_pid() -> int | None:
    """The process id of this process's worker while one is up (what a test kills)."""
    worker = _worker
    return worker.process.pid if worker is not None and worker.alive() else None


class JobFailed(RuntimeError):
    """A job the worker did raised, or the worker died under it; the message says which."""


def work_in_worker(workspace: str | Path, run_id: int) -> None:
    """Have the worker work the run, answering its calls on the workspace until it ends. Every ending is
    recorded on the run's row, a dead worker's too."""
    worker = current_worker()
    log = log_path(workspace)
    with worker.turn, Store(workspace) as store:
        try:
            try:
                _send_work(worker, "run", workspace, log, (run_id,))
            except (pickle.PicklingError, TypeError, AttributeError) as error:
                store.fail_run(run_id, f"a discovery method registered in this process cannot be sent to the run's "
                                       f"worker process: define it at the top level of an importable module ({error})")
                return
            _answer_until_done(worker, store, None)
        except (EOFError, OSError):
            if store.run_status(run_id) in LIVE_STATUSES:
                store.fail_run(run_id, worker.ending(log))


def do_in_worker(workspace: str | Path, function: str, args: tuple = (), on_progress: Callable[[int, int], None] | None = None,
                 keywords: dict[str, Any] | None = None) -> Any:
    """Call `function` ("module:name", taking the workspace's store first and an `on_progress` keyword) in the
    worker and return its result: work that loads native models (an LLM judging the analyst's clusters, torch
    teaching an embedder) done where a crash spares the studio. JobFailed when it raised or the worker died."""
    worker = current_worker()
    log = log_path(workspace)
    with worker.turn, Store(workspace) as store:
        try:
            _send_work(worker, "job", workspace, log, (function, args, keywords or {}))
            kind, value = _answer_until_done(worker, store, on_progress)
        except (EOFError, OSError):
            raise JobFailed(worker.ending(log)) from None
    if kind == "failed":
        raise JobFailed(value)
    return value


def _send_work(worker: Worker, kind: str, workspace: str | Path, log: Path, work: tuple) -> None:
    environment = dict(os.environ)  # the server's as it is now: a URL or key set since the worker started counts
    worker.connection.send((kind, str(workspace), str(log), registered_methods(), environment, work))


def _answer_until_done(worker: Worker, store: Store, on_progress: Callable[[int, int], None] | None) -> tuple[str, Any]:
    """Carry out the worker's calls on the workspace, pass on its progress, until it says it is done."""
    while True:
        message = worker.connection.recv()
        if message[0] in ("ended", "failed"):
            return message[0], message[1]
        if message[0] == "progress":
            if on_progress:
                on_progress(message[1], message[2])
            continue
        _, name, args, kwargs = message
        if name not in STORE_CALLS:
            worker.connection.send(("raised", AttributeError(f"the workspace has no call {name!r}")))
            continue
        try:
            outcome = ("returned", getattr(store, name)(*args, **kwargs))
        except Exception as error:
            outcome = ("raised", error)
        _answer(worker.connection, outcome)


def _answer(connection: Connection, outcome: tuple[str, Any]) -> None:
    """Send a call's outcome; one that cannot be pickled (an exception carrying a connection, say) goes as its words.
    The pickling fails before anything is written, so the pipe stays in step."""
    try:
        connection.send(outcome)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        connection.send(("raised", RuntimeError(f"{outcome[1]!r} (could not reach the worker: {error})")))


if __name__ == "__main__":  # started by current_worker, with its end of the pipe as the argument
    _serve(Connection(int(sys.argv[1])))
