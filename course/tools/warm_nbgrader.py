"""A warm ``nbgrader`` for a grading worker: one process that imports nbgrader, the course's pipeline and
graders, and torch once (about 4 s of CPU), then forks a fresh copy of itself for every ``nbgrader`` command
it is asked to run. A worker that grades hundreds of students pays the imports once instead of once each.

Every command runs in its own child, exactly as a new ``nbgrader`` process would: in the course folder it
names, with the environment it names, its output in its log file, and nothing of an earlier grading left in
memory (the child is a fork of the server, which never runs a command itself). The server is started with the
grading environment (one math-library thread, the grading CPU kernels), so torch is imported under the same
settings a fresh process would see. The server dies with the process that started it, and each child with
the server (Linux's parent-death signal); a child's kernels follow it, as Jupyter kernels do.

Protocol: one JSON request a line on the server's stdin (``args``, ``cwd``, ``log``, ``env``), one JSON reply
a line on its stdout (``returncode``).
"""

import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import traceback

from course.assignment import NOTEBOOKS
from course.tools.nbgrader_cmd import die_with_parent

PRELOAD = ("nbgrader.apps", "nbgrader.preprocessors", "nbconvert.exporters", "sqlalchemy.dialects.sqlite",
           "course.pipeline.execute", "course.grade.checker", *(f"course.grade.{name}" for name in NOTEBOOKS))
# Imported while the first command runs, so that they do not hold up the worker's first grading: torch's
# optimizers import torch._dynamo when they are built (1.2 s), and the seq_classification grader builds one
# for its own run of the extra credit's procedure.
LATER = ("torch._dynamo",)


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


def serve() -> None:
    """The server's loop: read requests on stdin until it closes, run each in a forked child, reply."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what the imports print goes to stderr, never into the replies
    for name in PRELOAD:
        importlib.import_module(name)
    later = list(LATER)
    for line in sys.stdin:
        request = json.loads(line)
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
        while later:  # after the fork: the child never sees a module half imported
            with contextlib.suppress(ImportError):  # a command that needs it imports it itself
                importlib.import_module(later.pop(0))
        _, status = os.waitpid(child, 0)
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


class WarmNbgrader:
    """A server (see the module docstring) started with ``env``, for one thread of the process that starts it."""

    def __init__(self, env: dict):
        self.env = env
        self.process = subprocess.Popen([sys.executable, "-m", __name__], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        """Let the server end (it exits when its stdin closes)."""
        self.process.stdin.close()
        self.process.wait()

    def run(self, args: list[str], root: str, log_path: str) -> int:
        """The exit status of ``nbgrader <args>`` run in the course folder ``root`` with this server's
        environment, its output in ``log_path``; -9 (and a line in the log) if the server itself died."""
        request = {"args": args, "cwd": os.path.abspath(root), "log": os.path.abspath(log_path), "env": self.env}
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            reply = self.process.stdout.readline()
        except BrokenPipeError:
            reply = ""
        if reply:
            return json.loads(reply)["returncode"]
        self.process.kill()
        self.process.wait()
        with open(log_path, "a") as log:
            log.write(f"\nThe grading process died (exit status {self.process.returncode}) before nbgrader finished.\n")
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


def run_warm(args: list[str], root: str, log_path: str, env: dict) -> subprocess.CompletedProcess:
    """``nbgrader <args>`` in the course folder ``root`` and environment ``env``, its output in ``log_path``,
    run by this thread's warm server (one started ahead, else started on first use, and again if it died or
    ``env`` changed)."""
    server = getattr(_servers, "server", None)
    if server is not None and (server.env != env or not server.alive()):
        server.close()
        server = None
    if server is None:
        server = _servers.server = _spare(env) or WarmNbgrader(env)
    return subprocess.CompletedProcess(["nbgrader", *args], server.run(args, root, log_path))


if __name__ == "__main__":
    die_with_parent()
    serve()
