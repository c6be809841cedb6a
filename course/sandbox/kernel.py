"""Launch an IPython kernel for student code inside a sandbox.

    python -m course.sandbox.kernel --workdir DIR [--read DIR ...] [--deny PATH ...]
        [--port N ...] [--memory-mb N] -- <ipykernel arguments>

Before the kernel starts (while the process is still single-threaded) this module:

* limits memory (``RLIMIT_DATA``), file size and core dumps, so runaway code fails inside its own cell;
* applies Landlock: read access to the Python installation and system libraries, read access to the
  ``--read`` folders (grading data), read-write access to ``--workdir`` only; the ``--deny`` paths
  (the course repository, the hidden package, the gradebook) are carved out of everything granted;
  no outgoing TCP connections, binding only the kernel's own ``--port``s; no signals outside.

The kernel then runs as usual; the student's code inherits every restriction.
"""

import argparse
import os
import resource
import sys

from course.sandbox import landlock

SYSTEM_READ = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/proc", "/sys"]
DEVICES = ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/shm"]
MAX_FILE_BYTES = 1 << 30  # a student's code writes no file larger than 1 GiB


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def carve(granted: dict[str, int], denied: list[str]) -> dict[str, int]:
    """``granted`` with every ``denied`` path cut out.

    A granted folder that contains a denied path is replaced by its entries (recursively), minus the
    denied one; a granted path equal to a denied path is dropped. Granted paths *inside* a denied
    folder stay granted: they were asked for explicitly (the virtual environment inside the repository).
    """
    carved: dict[str, int] = {}

    def visit(path: str, rights: int) -> None:
        inside = [d for d in denied if _is_within(d, path)]
        if not inside:
            carved[path] = carved.get(path, 0) | rights
        elif path not in denied and os.path.isdir(path):
            for entry in os.listdir(path):
                visit(os.path.join(path, entry), rights)

    for path, rights in granted.items():
        visit(os.path.realpath(path), rights)
    return carved


def sandbox_rules(workdir: str, read: list[str], denied: list[str], ports: list[int]) -> landlock.Rules:
    """The Landlock rules of a grading kernel (see the module docstring)."""
    granted = landlock.Rules()
    for path in SYSTEM_READ + [sys.prefix, sys.base_prefix, sys.exec_prefix] + [p for p in sys.path if p] + read:
        granted.allow(path, landlock.READ)
    for path in DEVICES + [workdir]:
        granted.allow(path, landlock.READ_WRITE)
    rules = landlock.Rules(bind_ports=list(ports))
    rules.paths = carve(granted.paths, [os.path.realpath(d) for d in denied if os.path.exists(d)])
    return rules


def limit_resources(memory_mb: int) -> None:
    """Cap the heap (allocations beyond it fail with MemoryError), file sizes and core dumps."""
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--read", action="append", default=[])
    parser.add_argument("--deny", action="append", default=[])
    parser.add_argument("--port", action="append", type=int, default=[])
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--unconfined", action="store_true", help="skip Landlock (only where the OS lacks it)")
    parser.add_argument("kernel_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    kernel_args = args.kernel_args[1:] if args.kernel_args[:1] == ["--"] else args.kernel_args

    limit_resources(args.memory_mb)
    if not args.unconfined:
        landlock.restrict(sandbox_rules(args.workdir, args.read, args.deny, args.port))

    from ipykernel import kernelapp

    kernelapp.launch_new_instance(argv=kernel_args)


if __name__ == "__main__":
    main()
