"""A Jupyter kernel manager whose kernels start inside the sandbox of :mod:`course.sandbox.kernel`."""

import sys

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer, List, Unicode


class SandboxKernelManager(AsyncKernelManager):
    """Starts ``python -m course.sandbox.kernel ... -- -f <connection file>`` instead of the plain
    IPython kernel, granting the kernel its own ports and the folders configured here."""

    workdir = Unicode(help="the kernel's only writable folder (its working directory)")
    read_dirs = List(Unicode(), help="folders the kernel may read besides the Python installation")
    deny_paths = List(Unicode(), help="paths carved out of everything the kernel may read")
    memory_mb = Integer(0, help="heap limit of the kernel in MiB (0: none)")
    unconfined = Bool(False, help="start without Landlock (only where the operating system lacks it)")

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        kernel_args = command[command.index("-f"):]
        sandbox = ["--workdir", self.workdir, "--memory-mb", str(self.memory_mb)]
        for path in self.read_dirs:
            sandbox += ["--read", path]
        for path in self.deny_paths:
            sandbox += ["--deny", path]
        for port in (self.shell_port, self.iopub_port, self.stdin_port, self.control_port, self.hb_port):
            sandbox += ["--port", str(port)]
        if self.unconfined:
            sandbox.append("--unconfined")
        return [sys.executable, "-m", "course.sandbox.kernel", *sandbox, "--", *kernel_args]
