"""Running nbgrader's own commands from the course tools."""

import os
import subprocess
import sys


def environment() -> dict:
    """This environment with its ``bin`` folder first on PATH (nbgrader runs ``alembic`` from there)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def nbgrader(args: list[str], root: str, log_path: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """``nbgrader <args>`` in the course folder ``root``; its output goes to ``log_path`` if given.

    Raises:
        subprocess.CalledProcessError: when ``check`` and nbgrader fails.
    """
    command = [os.path.join(os.path.dirname(sys.executable), "nbgrader"), *args]
    if log_path:
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "w") as log:
            result = subprocess.run(command, cwd=root, env=environment(), stdout=log, stderr=subprocess.STDOUT)
    else:
        result = subprocess.run(command, cwd=root, env=environment())
    if check and result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, command)
    return result
