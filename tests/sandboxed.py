"""Sandboxed kernels for the tests of the sandbox, and the processes they leave (light: no torch, no nbgrader,
so that a test can start a grading process of its own quickly)."""

import ast
import logging
import os
from pathlib import Path

import psutil
from jupyter_core.utils import run_sync

import course
from course.pipeline.workspace import Workspace, confined_kernel, denied_paths
from course.sandbox.bubblewrap import KERNEL_UID

REPO = Path(__file__).resolve().parents[1]

# Code a student cell could run. DAEMON starts a double-forked daemon whose command line holds {marker};
# FORK_BOMB forks until refused (its children wait on a pipe instead of multiplying), then prints
# "FORKED (children, error)"; CONNECT tries each of {addresses} (name, family, address) and prints
# "CONNECTED {name: "DONE" or the error's name}".
DAEMON = """
import subprocess, sys
daemon = "import os, time\\nif os.fork(): os._exit(0)\\nos.setsid()\\nif os.fork(): os._exit(0)\\ntime.sleep(3600)"
subprocess.run([sys.executable, "-c", daemon, "{marker}"], check=True)
"""
FORK_BOMB = """
import os
read_end, write_end = os.pipe()
children, refused = 0, "never"
try:
    for _ in range(5000):
        if os.fork() == 0:
            os.close(write_end)
            os.read(read_end, 1)
            os._exit(0)
        children += 1
except OSError as error:
    refused = type(error).__name__
os.close(write_end)
for _ in range(children):
    os.wait()
print("FORKED", (children, refused))
"""
CONNECT = """
import socket
tried = {{}}
for name, family, address in {addresses}:
    try:
        with socket.socket(family) as client:
            client.settimeout(5)
            client.connect(address)
        tried[name] = "DONE"
    except OSError as error:
        tried[name] = type(error).__name__
print("CONNECTED", tried)
"""


def processes_with(marker: str) -> list[psutil.Process]:
    """The processes of this machine whose command line holds ``marker`` (a kernel's own processes, seen
    from outside its namespaces)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if marker in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


def printed_value(text: str, tag: str):
    """The Python literal printed after ``tag`` on a line of ``text`` (what a snippet above reports)."""
    line = next(l for l in text.splitlines() if l.startswith(tag + " "))
    return ast.literal_eval(line[len(tag) + 1:])


class SandboxedKernel:
    """A kernel started as grading starts one: a fresh workspace, the kernel's own uid when this is root,
    its limits and its allow-listed environment, but no notebook; for tests of the sandbox's layers."""

    def __init__(self, max_processes: int = 64, memory_mb: int = 2000):
        self.workspace = Workspace()
        self.km = confined_kernel(self.workspace, kernel_uid=KERNEL_UID, require_sandbox=True,
                                  log=logging.getLogger(__name__), read_dirs=[], memory_mb=memory_mb,
                                  deny_paths=denied_paths(str(REPO), os.path.dirname(course.__file__), ""),
                                  max_processes=max_processes, kernel_name="python3")
        self.uid = self.km.uid
        run_sync(self.km.start_kernel)(cwd=self.workspace.work, env=self.workspace.environment(1, {}))
        self.kc = self.km.client()
        self.kc.start_channels()
        run_sync(self.kc.wait_for_ready)(timeout=60)

    def run(self, code: str, timeout: float = 60) -> str:
        """What ``code`` printed, then its error's name and message if it raised one."""
        printed = []

        def collect(message):
            content = message["content"]
            if message["msg_type"] == "stream":
                printed.append(content["text"])
            elif message["msg_type"] == "error":
                printed.append(f"{content['ename']}: {content['evalue']}")

        run_sync(self.kc.execute_interactive)(code, output_hook=collect, timeout=timeout)
        return "".join(printed)

    def close(self) -> None:
        """Shut the kernel down (everything it started goes with it) and remove its workspace."""
        self.kc.stop_channels()
        run_sync(self.km.shutdown_kernel)(now=True)
        self.workspace.remove()
