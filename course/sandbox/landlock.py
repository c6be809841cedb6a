"""Linux Landlock, through its three system calls: an allow-list of files, no TCP, no signals out.

A process that calls :func:`restrict` can afterwards open only the paths it was granted, bind and
connect no TCP port (ABI 4, Linux 6.7), and signal no process and reach no abstract unix socket outside
its own domain (ABI 6, Linux 6.12). The kernel enforces this for the process and every child it starts;
nothing the process does later (ctypes, a subprocess, a rewritten ``open``) can lift it, and a restricted
process can no longer mount anything. See ``man 7 landlock``.

What it does not stop: connecting to a *path* unix socket it can reach (Landlock's rights are on opening
files, not on ``connect``: the mount namespace of :mod:`course.sandbox.bubblewrap` keeps such sockets out
of the kernel's filesystem), UDP, reading its own environment, and anything about processes and
privileges (the namespaces and the unprivileged identity do that).
"""

import ctypes
import os
import platform
from dataclasses import dataclass, field

# System call numbers are the same on x86-64 and arm64 (they were added after the tables unified).
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# Filesystem rights (ABI version that introduced them in comments).
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
_FS_ALL_LATEST = (1 << 16) - 1
FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # rights a rule on a file may hold

READ = EXECUTE | READ_FILE | READ_DIR
READ_WRITE = _FS_ALL_LATEST

# Network rights (ABI 4) and scopes (ABI 6).
BIND_TCP, CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)


def _syscall(number, *args):
    result = _libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return result


def abi_version() -> int:
    """The Landlock ABI the running kernel offers, 0 when it has none (or is not Linux)."""
    if platform.system() != "Linux":
        return 0
    try:
        return _syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except OSError:
        return 0


@dataclass
class Rules:
    """What the restricted process may still do: paths with their rights."""

    paths: dict[str, int] = field(default_factory=dict)

    def allow(self, path: str, rights: int) -> None:
        """Grant ``rights`` below ``path`` (silently skipped if the path does not exist)."""
        if os.path.exists(path):
            real = os.path.realpath(path)
            self.paths[real] = self.paths.get(real, 0) | rights


def restrict(rules: Rules) -> int:
    """Confine the calling thread (and the threads and processes it later starts) to ``rules``.

    Call it while the process has a single thread. Returns the ABI version used.

    Raises:
        OSError: when the kernel offers no Landlock (ABI 0) or a call is refused.
    """
    abi = abi_version()
    if abi < 1:
        raise OSError("this kernel offers no Landlock; the sandbox cannot be applied")
    handled_fs = _FS_BY_ABI.get(abi, _FS_ALL_LATEST)
    attr = _RulesetAttr(handled_fs, (BIND_TCP | CONNECT_TCP) if abi >= 4 else 0,
                        (SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET) if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = _syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    try:
        for path, rights in sorted(rules.paths.items()):
            rights &= handled_fs
            if not os.path.isdir(path):
                rights &= FILE_ONLY
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneathAttr(rights, fd)
                _syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                         ctypes.byref(rule), ctypes.c_uint32(0))
            finally:
                os.close(fd)
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        _syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return abi
