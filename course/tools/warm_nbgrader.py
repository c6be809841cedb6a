"""A warm ``nbgrader`` for a grading worker: one process that imports nbgrader, the course's pipeline and
graders, and torch once (about 4 s of CPU), then forks a fresh copy of itself for every ``nbgrader`` command
it is asked to run. A worker that grades hundreds of students pays the imports once instead of once each.

Every command runs in its own child, exactly as a new ``nbgrader`` process would: in the course folder it
names, with the environment it names, its output in its log file, and nothing of an earlier grading left in
memory (the child is a fork of the server, which never runs a command itself). The server is started with the
grading environment (one math-library thread, the grading CPU kernels), so torch is imported under the same
settings a fresh process would see. The server dies with the process that started it, and each child with
the server (Linux's parent-death signal); a child's kernels follow it, as Jupyter kernels do. A server whose
requests close while a command runs kills that command: nobody waits for it.

The workers of one machine can share a server (:func:`listen`, :func:`shared_server`): the cluster that
``course autograde --workers N`` makes starts one as it starts its workers, so the machine imports once.

Protocol: one JSON request a line (``args``, ``cwd``, ``log``, ``env``, ``notebooks``) on the server's stdin,
or on its connection to the shared server, one JSON reply a line (``returncode``) on its stdout or connection.
"""

import contextlib
import importlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from typing import Iterator, TextIO

from course.assignment import NOTEBOOKS
from course.tools.nbgrader_cmd import SHARED_SERVER_ENV, die_with_parent

BACKLOG = 64  # connections that wait for the shared server to accept them
PRELOAD = ("nbgrader.apps", "nbgrader.preprocessors", "nbconvert.exporters", "sqlalchemy.dialects.sqlite",
           "course.pipeline.execute", "course.grade.checker", *(f"course.grade.{name}" for name in NOTEBOOKS))


def import_for(notebooks: list[str]) -> None:
    """Import what the graders of ``notebooks`` import only as they run (a grader's ``IMPORTED_WHEN_RUN``), so
    that every later fork has it; a server that grades none of them never pays for it."""
    for name in notebooks:
        for module in getattr(importlib.import_module(f"course.grade.{name}"), "IMPORTED_WHEN_RUN", ()):
            with contextlib.suppress(ImportError):  # then the grading imports it itself, and says why it failed
                importlib.import_module(module)


def run_command(request: dict) -> int:
    """Run the ``nbgrader`` command of ``request`` in this (forked) process; returns its exit status."""
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["nbgrader", *request["args"]]
    from nbgrader.apps.nbgraderapp import main

    try:
        main()
        return 0
    except SystemExit as exit:
        return exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def wait_for(child: int, requests: TextIO) -> int | None:
    """The exit status of ``child``; None, having killed it, if ``requests`` closed first: its requester went
    away (a worker killed mid-grading), and nobody waits for this grading any more. A requester never writes
    while it waits for its reply, so ``requests`` becomes readable only when it closes."""
    pidfd = os.pidfd_open(child)
    try:
        finished = pidfd in select.select([pidfd, requests], [], [])[0]
        if not finished:
            os.kill(child, signal.SIGKILL)
        _, status = os.waitpid(child, 0)
        return os.waitstatus_to_exitcode(status) if finished else None
    finally:
        os.close(pidfd)


def serve(requests: TextIO, replies: TextIO) -> None:
    """The server's loop: read requests until their stream closes, run each in a forked child, reply."""
    for line in requests:
        request = json.loads(line)
        import_for([name for name in request["notebooks"] if name in NOTEBOOKS])
        sys.stdout.flush()
        sys.stderr.flush()
        child = os.fork()
        if child == 0:  # never returns to this loop, whatever happens: only the server reads the requests
            status = 1
            try:
                die_with_parent()
                status = run_command(request)
            finally:
                os._exit(status)
        status = wait_for(child, requests)
        if status is None:
            return
        try:
            replies.write(json.dumps({"returncode": status}) + "\n")
            replies.flush()
        except OSError:  # the requester went away as the command ended
            return


def preload() -> None:
    """Import what every command needs (:data:`PRELOAD`), once, before the first fork."""
    for name in PRELOAD:
        importlib.import_module(name)


def serve_pipes() -> None:
    """A worker's own server: requests on stdin, replies on stdout."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what the imports print goes to stderr, never into the replies
    preload()
    serve(sys.stdin, replies)


def listen(path: str) -> None:
    """The warm nbgrader of every grading worker of a machine: it makes the unix socket ``path`` (in a folder
    only its user can enter), imports once, and serves each connection with a server of its own forked from it,
    which ends (killing a command still running) when its connection closes. The workers of a machine then
    pay the imports once between them, not once each."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(BACKLOG)  # before the imports: workers connect at once, their first requests wait here
    os.dup2(2, 1)
    preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # Linux reaps the ended servers
    while True:
        connection, _ = listener.accept()
        if os.fork() == 0:
            status = 1
            try:
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # this server waits for its commands
                die_with_parent()
                serve(connection.makefile("r"), connection.makefile("w"))
                status = 0
            finally:
                os._exit(status)
        connection.close()


@contextlib.contextmanager
def shared_server(env: dict) -> Iterator[dict]:
    """A warm nbgrader started with ``env`` for the grading workers this process starts on its machine (see
    :func:`listen`), stopped at the end; yields the environment that sends a worker's commands to it."""
    folder = tempfile.mkdtemp(prefix="warm-nbgrader-")  # mode 700: no kernel reaches the socket
    path = os.path.join(folder, "socket")
    server = subprocess.Popen([sys.executable, "-m", __name__, "--listen", path], env=env, stdin=subprocess.DEVNULL)
    try:
        while not os.path.exists(path) and server.poll() is None:
            time.sleep(0.01)
        yield {SHARED_SERVER_ENV: path}
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)


class WarmNbgrader:
    """A server for one thread of this process, started with ``env``: the machine's shared server (see
    :func:`listen`) when ``$COURSE_WARM_NBGRADER`` names one that answers, else one of its own (the module
    docstring)."""

    def __init__(self, env: dict):
        self.env = env
        self.process = self.connection = None
        self.hung_up = False  # the shared server's end of the connection closed
        with contextlib.suppress(OSError):  # no shared server: start one of its own
            if os.environ.get(SHARED_SERVER_ENV):
                self.connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.connection.connect(os.environ[SHARED_SERVER_ENV])
                self.requests, self.replies = self.connection.makefile("w"), self.connection.makefile("r")
                return
        self.process = subprocess.Popen([sys.executable, "-m", __name__], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.requests, self.replies = self.process.stdin, self.process.stdout

    def alive(self) -> bool:
        return self.process.poll() is None if self.process else not self.hung_up

    def close(self) -> None:
        """Let the server end (it ends when its requests close)."""
        for stream in (self.requests, self.replies, *([self.connection] if self.connection else [])):
            with contextlib.suppress(OSError):  # the streams of a connection hold its socket open: all three
                stream.close()
        if self.process:
            self.process.wait()

    def run(self, args: list[str], root: str, log_path: str, notebooks: list[str]) -> int:
        """The exit status of ``nbgrader <args>`` run in the course folder ``root`` with this server's
        environment, its output in ``log_path``, grading ``notebooks`` of the assignment; -9 (and a line in the
        log) if the server itself died."""
        request = {"args": args, "cwd": os.path.abspath(root), "log": os.path.abspath(log_path), "env": self.env,
                   "notebooks": notebooks}
        try:
            self.requests.write(json.dumps(request) + "\n")
            self.requests.flush()
            reply = self.replies.readline()
        except OSError:
            reply = ""
        if reply:
            return json.loads(reply)["returncode"]
        if self.process:
            self.process.kill()
            self.process.wait()
            died = f"exit status {self.process.returncode}"
        else:
            self.hung_up = True
            died = "its connection closed"
        with open(log_path, "a") as log:
            log.write(f"\nThe grading process died ({died}) before nbgrader finished.\n")
        return -signal.SIGKILL


_servers = threading.local()
_spares: list[WarmNbgrader] = []  # started ahead (prestart), for the first threads of this process that need one
_spares_lock = threading.Lock()


def prestart(env: dict) -> None:
    """Start a server for ``env`` now, unless one waits already: the first thread of this process that runs a
    command takes it, so its imports run while the process waits for its first grading instead of after.
    The thread that calls this must live as long as the process (the server dies with it)."""
    with _spares_lock:
        if not _spares:
            _spares.append(WarmNbgrader(env))


def _spare(env: dict) -> WarmNbgrader | None:
    """A server started ahead with ``env`` and still alive, taken out of the spares; None if there is none."""
    with _spares_lock:
        for server in list(_spares):
            if server.env == env and server.alive():
                _spares.remove(server)
                return server
    return None


def run_warm(args: list[str], root: str, log_path: str, env: dict,
             notebooks: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``nbgrader <args>`` in the course folder ``root`` and environment ``env``, its output in ``log_path``,
    run by this thread's warm server (one started ahead, else started on first use, and again if it died or
    ``env`` changed). ``notebooks``: those of the assignment the command grades (see :func:`import_for`)."""
    server = getattr(_servers, "server", None)
    if server is not None and (server.env != env or not server.alive()):
        server.close()
        server = None
    if server is None:
        server = _servers.server = _spare(env) or WarmNbgrader(env)
    return subprocess.CompletedProcess(["nbgrader", *args], server.run(args, root, log_path, list(notebooks)))


if __name__ == "__main__":
    die_with_parent()
    if sys.argv[1:2] == ["--listen"]:
        listen(sys.argv[2])
    else:
        serve_pipes()
