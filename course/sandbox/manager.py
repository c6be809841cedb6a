"""A Jupyter kernel manager whose kernels start inside the sandbox, and which layers of it a machine offers.

The layers, outside in: the namespaces and the unprivileged identity of :mod:`course.sandbox.bubblewrap`,
then the limits and Landlock of :mod:`course.sandbox.kernel`, and the environment, an allow-list built by
the caller (:meth:`course.pipeline.workspace.Workspace.environment`), to which bwrap adds only the launcher's
``PYTHONPATH`` (dropped by the launcher) and ``JPY_PARENT_PID=1``.
"""

import os
import sys
from dataclasses import dataclass

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer, List, Unicode, default

from course.sandbox import bubblewrap, kernel, landlock

_UNIX_SOCKET_PATH_MAX = 107  # bytes of a unix socket's path (sockaddr_un.sun_path, without the final NUL)


@dataclass(frozen=True)
class Layers:
    """The layers of the sandbox this machine can put around a kernel; ``missing`` says what is lacking
    and how to get it, one sentence per missing layer."""

    landlock: bool
    namespaces: bool
    missing: tuple[str, ...]


def sandbox_layers(uid: int | None) -> Layers:
    """The layers available for a kernel running as ``uid`` (None: as this process's user)."""
    missing = []
    has_landlock = landlock.abi_version() > 0
    if not has_landlock:
        missing.append("this Linux kernel offers no Landlock (it needs Linux 5.13 or newer)")
    problem = bubblewrap.problem(uid)
    if problem:
        missing.append(problem)
    return Layers(has_landlock, problem is None, tuple(missing))


class SandboxKernelManager(AsyncKernelManager):
    """Starts ``bwrap ... python -m course.sandbox.kernel ... -- -f <connection file>`` instead of the plain
    IPython kernel, with the folders configured here, and reaches it over unix sockets in its working folder.

    The kernel is interrupted by a message (ipykernel then signals itself): a signal from outside would stop
    bwrap, which takes the whole sandbox with it.
    """

    workdir = Unicode(help="the kernel's working directory, writable, holding its connection file and sockets")
    write_dirs = List(Unicode(), help="more folders the kernel may write (the probe files)")
    read_dirs = List(Unicode(), help="folders the kernel may read besides the Python installation")
    deny_paths = List(Unicode(), help="paths carved out of everything the kernel may read")
    memory_mb = Integer(0, help="heap limit of the kernel in MiB (0: none)")
    max_processes = Integer(0, help="processes and threads the kernel may run at once (0: no limit)")
    uid = Integer(None, allow_none=True, help="the uid (and gid) the kernel runs as; None: this process's")
    isolated = Bool(True, help="start in bubblewrap's namespaces (off only where the machine lacks them)")
    unconfined = Bool(False, help="start without Landlock (only where the operating system lacks it)")

    def __init__(self, **kwargs):
        super().__init__(transport="ipc", **kwargs)

    @default("connection_file")
    def _connection_file_default(self):
        return os.path.join(self.workdir, "kernel-connection.json")

    @default("ip")
    def _ip_default(self):
        prefix = os.path.splitext(self.connection_file)[0] + "-ipc"  # the sockets are <prefix>-<number>
        if len(os.fsencode(prefix)) + 8 > _UNIX_SOCKET_PATH_MAX:
            raise ValueError(f"the kernel's socket path {prefix}-N is too long for a unix socket: "
                             "set TMPDIR to a shorter folder for grading")
        return prefix

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    def write_connection_file(self, **kwargs):
        """Write the connection file (only this process can read it), then give it to the kernel's user."""
        super().write_connection_file(**kwargs)
        if self.isolated and self.uid is not None:
            os.chown(self.connection_file, self.uid, self.uid, follow_symlinks=False)

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        rules = kernel.sandbox_rules(self.workdir, self.read_dirs, self.deny_paths, self.write_dirs)
        launcher = [sys.executable, "-m", "course.sandbox.kernel", "--memory-mb", str(self.memory_mb)]
        for path, rights in sorted(rules.paths.items()):
            launcher += ["--write" if rights & landlock.WRITE_FILE else "--read", path]
        if self.unconfined:
            launcher.append("--unconfined")
        kernel_args = ["--", *command[command.index("-f"):]]
        if not self.isolated:  # no user namespace of its own: a process limit would count the grader's too
            return ["env", f"PYTHONPATH={os.path.dirname(bubblewrap.LAUNCHER_PACKAGE)}", *launcher, *kernel_args]
        launcher += ["--max-processes", str(self.max_processes)]
        return bubblewrap.command(rules, self.workdir, self.uid, launcher + kernel_args)
