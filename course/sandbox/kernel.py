"""Launch an IPython kernel for student code, confined: the innermost layer of the sandbox.

    python -m course.sandbox.kernel [--read PATH ...] [--write PATH ...] [--memory-mb N] [--max-processes N]
        [--unconfined] -- <ipykernel arguments>

It runs inside the namespaces of :mod:`course.sandbox.bubblewrap` (already unprivileged there), and before
the kernel starts, while the process is still single-threaded, it:

* sets limits nothing inside can raise again (no capability is left to do so): the heap (``RLIMIT_DATA``:
  a memory runaway is a ``MemoryError`` in its own cell), file sizes, no core dumps, and with
  ``--max-processes`` the processes *and threads* the kernel may run at once (``RLIMIT_NPROC``, counted in
  the kernel's own user namespace, so a fork bomb stops at that number and other kernels do not count);
* applies Landlock (:mod:`course.sandbox.landlock`) with the rules of :func:`sandbox_rules`, which the
  grading process works out and passes as ``--read`` and ``--write`` paths (so what is denied is never
  named inside): read access to the system folders, the Python installation and the grading data,
  read-write access to the working folder and the probe folder only, the course folder, the hidden
  package and the gradebook carved out of everything; no TCP at all; no signals and no abstract unix
  sockets outside;
* drops ``PYTHONPATH``, which only served to find this launcher (:data:`course.sandbox.bubblewrap.LAUNCHER_ROOT`).

The kernel then runs as usual; the student's code inherits every restriction. What this layer does not
stop: CPU time (the grader's timeouts), memory that is not heap (``mmap`` of files, ``/dev/shm``), and the
number of files written below the size limit.
"""

import argparse
import os
import resource
import sys

from course.sandbox import landlock

SYSTEM_READ = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/proc", "/sys"]
DEVICES = ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/shm"]
MAX_FILE_BYTES = 1 << 30  # a student's code writes no file larger than 1 GiB


def is_within(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def carve(granted: dict[str, int], denied: list[str]) -> dict[str, int]:
    """``granted`` with every ``denied`` path cut out.

    A granted folder that contains a denied path is replaced by its entries (recursively), minus the
    denied one; a granted path equal to a denied path is dropped. Granted paths *inside* a denied
    folder stay granted: they were asked for explicitly (the virtual environment inside the repository).
    """
    carved: dict[str, int] = {}

    def visit(path: str, rights: int) -> None:
        inside = [d for d in denied if is_within(d, path)]
        if not inside:
            carved[path] = carved.get(path, 0) | rights
        elif path not in denied and os.path.isdir(path):
            for entry in os.listdir(path):
                visit(os.path.join(path, entry), rights)

    for path, rights in granted.items():
        visit(os.path.realpath(path), rights)
    return carved


def python_paths() -> list[str]:
    """The folders of the running Python installation and of every module it can import."""
    return [sys.prefix, sys.base_prefix, sys.exec_prefix] + [p for p in sys.path if p]


def sandbox_rules(workdir: str, read: list[str], denied: list[str], write: list[str] = ()) -> landlock.Rules:
    """The Landlock rules of a grading kernel working in ``workdir`` (see the module docstring), worked out
    in the grading process; :mod:`course.sandbox.bubblewrap` builds the kernel's filesystem from them too."""
    granted = landlock.Rules()
    for path in SYSTEM_READ + python_paths() + read:
        granted.allow(path, landlock.READ)
    for path in DEVICES + [workdir, *write]:
        granted.allow(path, landlock.READ_WRITE)
    return landlock.Rules(carve(granted.paths, [os.path.realpath(d) for d in denied if os.path.exists(d)]))


def limit_resources(memory_mb: int, max_processes: int) -> None:
    """Cap the heap (allocations beyond it fail with MemoryError), file sizes and core dumps, and, when
    ``max_processes`` is set, the processes and threads of this process's user (see the module docstring)."""
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if max_processes > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--read", action="append", default=[], help="a path the kernel may read")
    parser.add_argument("--write", action="append", default=[], help="a path the kernel may read and write")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--max-processes", type=int, default=0,
                        help="RLIMIT_NPROC; only inside a user namespace of the kernel's own (0: none)")
    parser.add_argument("--unconfined", action="store_true", help="skip Landlock (only where the OS lacks it)")
    parser.add_argument("kernel_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    kernel_args = args.kernel_args[1:] if args.kernel_args[:1] == ["--"] else args.kernel_args

    os.environ.pop("PYTHONPATH", None)
    limit_resources(args.memory_mb, args.max_processes)
    if not args.unconfined:
        rules = landlock.Rules()
        for paths, rights in ((args.read, landlock.READ), (args.write, landlock.READ_WRITE)):
            for path in paths:
                rules.allow(path, rights)
        landlock.restrict(rules)

    from ipykernel import kernelapp

    kernelapp.launch_new_instance(argv=kernel_args)


if __name__ == "__main__":
    main()
