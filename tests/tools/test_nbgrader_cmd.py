"""Running nbgrader's commands: a command outlives nothing that started it."""

import os
import signal
import subprocess
import sys
import time

# A process that starts a long command the way `nbgrader()` does, says the command's pid, and waits for it.
STARTER = """
import subprocess, sys
from course.tools.nbgrader_cmd import die_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], preexec_fn=die_with_parent)
print(child.pid, flush=True)
child.wait()
"""


def running(pid: int) -> bool:
    """Whether ``pid`` runs (a killed process waiting to be reaped does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not running(pid)


def test_is_a_command_killed_when_the_process_that_started_it_is_killed():
    starter = subprocess.Popen([sys.executable, "-c", STARTER], stdout=subprocess.PIPE, text=True)
    command = int(starter.stdout.readline())
    try:
        starter.send_signal(signal.SIGKILL)
        starter.wait()
        assert gone(command), "the command outlived the process that started it"
    finally:
        if not gone(command, 0):
            os.kill(command, signal.SIGKILL)
