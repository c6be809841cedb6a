"""Data the notebooks read while the autograder runs them (no internet there).

The notebooks find it through environment variables the autograder sets; in Colab those variables
are unset and the notebooks download the real datasets instead.
"""

import fcntl
import os

from course.data import cifar, cifar_standin

READABLE = 0o555  # a data folder's rights for everyone: read and enter, never write
DATA_ENV = "HW2_DATA"  # hw2_cnn reads CIFAR-10 from $HW2_DATA/cifar-10-batches-py when it is set


def prepare(root: str) -> dict[str, str]:
    """Make sure the grading data exists under ``root``: CIFAR-10 as ``course data fetch`` left it, or
    else the generated stand-in in the same layout (safe when several graders start at once).

    Returns the environment variables that point the notebooks at it: its real path, the one a sandboxed
    kernel sees (the sandbox mounts folders at their real paths, not through links to them).
    """
    os.makedirs(root, exist_ok=True)
    if os.stat(root).st_uid == os.getuid():  # the sandboxed kernel runs as its own uid: it must enter the folder
        os.chmod(root, os.stat(root).st_mode | READABLE)
    with open(os.path.join(root, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cifar.is_present(root) or os.path.exists(os.path.join(cifar.folder(root), cifar.STANDIN_MARK)):
            cifar_standin.write_standin(root)
    return {DATA_ENV: os.path.realpath(root)}


def dataset_version(root: str) -> str:
    """Which CIFAR-10 ``root`` holds: "cifar-10", or the stand-in's version stamp (for caches of runs on it)."""
    prepare(root)
    stamps = sorted(name for name in os.listdir(cifar.folder(root)) if name.startswith("VERSION-"))
    return stamps[-1] if os.path.exists(os.path.join(cifar.folder(root), cifar.STANDIN_MARK)) else "cifar-10"
