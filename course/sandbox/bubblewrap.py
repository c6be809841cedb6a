"""The grading kernel's namespaces and identity, made by bubblewrap (``bwrap``, Debian package ``bubblewrap``).

A kernel starts as ``bwrap <namespaces> <filesystem> -- <identity> python -m course.sandbox.kernel ...``
(:func:`command`). What each part stops, and what it does not:

* **Processes** (PID namespace, ``--die-with-parent``): the kernel sees only its own processes, in a
  ``/proc`` of its own, so the grading processes' command lines (the gradebook URL) and environments are
  not there to read, nor any process to signal. When the kernel's first process ends (shut down, killed,
  or because the grading process died) Linux kills every process left in the namespace, double-forked
  daemons included: nothing the kernel started outlives its notebook.
* **Network** (network namespace): a loopback of its own and nothing else: no TCP or UDP to the gradebook
  server, the machine or the internet, and none of the machine's abstract unix sockets. Jupyter talks to
  the kernel over unix sockets in its working folder (transport ``ipc``).
* **Files** (mount namespace): the filesystem holds only the paths of the kernel's Landlock rules
  (:func:`course.sandbox.kernel.sandbox_rules`, enforced again inside): the system folders, the Python
  installation and the grading data read-only, its working folders read-write, a ``/proc`` and a minimal
  ``/dev`` of its own, a small ``/dev/shm``. Nothing else exists there: home folders, the course folder
  and its credentials, PostgreSQL's socket folder, other kernels' workspaces.
* **Identity** (user namespace, ``--disable-userns``): grading as root, the kernel runs as ``uid`` (its
  group the same, no supplementary groups, no capabilities, ``no_new_privs``): ``setpriv`` switches to it
  inside the sandbox and a second ``bwrap`` gives it a user namespace of its own (bwrap's own, made by
  root, would map the kernel to root outside). Grading as another user, the kernel keeps that user's uid,
  in a user namespace of its own. Either way its processes are counted in that namespace, so
  ``RLIMIT_NPROC`` bounds this kernel alone, and it can make no further user namespace. What is lost when
  grading is not root: the kernel shares the grader's uid, so the grader's own files are kept from it by
  the filesystem view and Landlock only, not by their permissions.
* IPC and UTS namespaces: no System V shared memory, semaphores or message queues shared with the machine.

It does not stop: an exploit of the Linux kernel itself (this is not a virtual machine), CPU time (the
grader's timeouts do), memory beyond the limits of :mod:`course.sandbox.kernel`, disk use in the working
folder below the file size limit.
"""

import functools
import os
import shutil
import subprocess
import tempfile

from course.sandbox import kernel, landlock

BWRAP = "bwrap"
KERNEL_UID = 99_999  # grading as root, kernels run as this uid: beyond the accounts adduser makes (< 60000) and
# below the subordinate ids of rootless containers (100000 on); configurable (GuardedExecute.kernel_uid)
LAUNCHER_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the folder of `course` here
LAUNCHER_ROOT = "/run/course-sandbox"  # inside: holds course/__init__.py and course/sandbox/, the launcher
NAMESPACES = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
              "--die-with-parent"]
OWN_USER_NAMESPACE = ["--unshare-user", "--disable-userns", "--die-with-parent"]
SETUID_ONLY = ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]  # for setpriv alone
SHM_BYTES = 512 << 20  # /dev/shm: DataLoader workers hand batches over through it
SHM_MODE = "1777"  # as /dev/shm everywhere: every process writes there, none removes another's files
# ipykernel watches its parent by the pid in JPY_PARENT_PID, the grading process's, which means nothing inside
# the PID namespace (there the kernel's parent may be the namespace's init, which it would take for a dead
# parent). Pid 1, that init, turns the watch off (ipykernel never polls pid 1); --die-with-parent watches instead.
PARENT_PID = ["--setenv", "JPY_PARENT_PID", "1"]
FOLDER_MODE = "0755"  # folders bwrap makes on the way to a mount (it would make them 0700: unreachable for uid)
WORKDIR_MODE = 0o755  # the working folder: bwrap, root without capabilities by then, must enter it to start there


def _filesystem(rules: landlock.Rules) -> list[str]:
    """bwrap options building the kernel's filesystem from its Landlock ``rules`` (path -> rights): each path
    mounted at its own place, read-write where the rules let it write; the launcher's package at LAUNCHER_ROOT."""
    own = {path: "--bind" if rights & landlock.WRITE_FILE else "--ro-bind" for path, rights in rules.paths.items()
           if not (kernel.is_within(path, "/proc") or kernel.is_within(path, "/dev"))}
    mounts = [(option, path, path) for path, option in sorted(own.items())  # a path inside a mount of its kind is there
              if not any(kernel.is_within(path, other) and other != path and own[other] == option for other in own)]
    mounts += [("--ro-bind", os.path.join(LAUNCHER_PACKAGE, "__init__.py"), f"{LAUNCHER_ROOT}/course/__init__.py"),
               ("--ro-bind", os.path.join(LAUNCHER_PACKAGE, "sandbox"), f"{LAUNCHER_ROOT}/course/sandbox")]
    targets = [target for _, _, target in mounts]
    folders = sorted({parent for target in targets for parent in _parents(target)
                      if not any(kernel.is_within(parent, t) for t in targets)})
    options = [arg for folder in folders for arg in ("--perms", FOLDER_MODE, "--dir", folder)]
    options += [arg for path in kernel.SYSTEM_READ if os.path.islink(path)
                for arg in ("--symlink", os.readlink(path), path)]
    options += [arg for mount in mounts for arg in mount]
    return options + ["--proc", "/proc", "--dev", "/dev",
                      "--perms", SHM_MODE, "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]


def _parents(path: str) -> list[str]:
    parents = []
    while (path := os.path.dirname(path)) != "/":
        parents.append(path)
    return parents


def _identity(uid: int | None) -> tuple[list[str], list[str]]:
    """(bwrap options, command prefix) that make the kernel ``uid`` (grading as root) or keep this process's
    uid (``uid`` None), in a user namespace of the kernel's own either way (see the module docstring)."""
    if uid is None:
        return OWN_USER_NAMESPACE, []
    return SETUID_ONLY, ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
                         BWRAP, *OWN_USER_NAMESPACE, "--dev-bind", "/", "/", "--"]


def command(rules: landlock.Rules, workdir: str, uid: int | None, inner: list[str]) -> list[str]:
    """The command that runs ``inner`` (the launcher of :mod:`course.sandbox.kernel`, from this process's
    package ``course``) in the kernel's namespaces, with the filesystem of ``rules``, in ``workdir`` (whose
    mode must be :data:`WORKDIR_MODE`), as ``uid`` (None: this process's uid)."""
    options, prefix = _identity(uid)
    return [BWRAP, *NAMESPACES, *options, *_filesystem(rules), "--chdir", workdir,
            "--setenv", "PYTHONPATH", LAUNCHER_ROOT, *PARENT_PID, "--", *prefix, *inner]


@functools.cache
def problem(uid: int | None) -> str | None:
    """Why bubblewrap cannot confine a kernel on this machine, in words an administrator can act on; None
    when it can. Runs the real :func:`command` (``true`` as the launcher) once per process and ``uid``."""
    if shutil.which(BWRAP) is None:
        return "bubblewrap is not installed (Debian and Ubuntu: apt-get install bubblewrap)"
    with tempfile.TemporaryDirectory(prefix="course-sandbox-check-") as scratch:
        workdir = os.path.join(scratch, "work")
        os.mkdir(workdir)
        os.chmod(workdir, WORKDIR_MODE)
        if uid is not None:
            os.chown(workdir, uid, uid)
        trial = command(kernel.sandbox_rules(workdir, [], []), workdir, uid, ["true"])
        try:
            run = subprocess.run(trial, env={"PATH": "/usr/bin:/bin"}, cwd=workdir, capture_output=True,
                                 text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return "bubblewrap did not start a sandbox within 60 s"
    if run.returncode != 0:
        return (f"bubblewrap cannot make the kernel's namespaces here ({run.stderr.strip() or run.returncode}); "
                "unprivileged user namespaces must be allowed (sysctl user.max_user_namespaces > 0, "
                "kernel.unprivileged_userns_clone = 1 where it exists, and on Ubuntu "
                "kernel.apparmor_restrict_unprivileged_userns = 0 or an AppArmor profile for bwrap)")
    return None
