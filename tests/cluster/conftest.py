"""A real PostgreSQL gradebook server for the tests of this folder, made and removed by them."""

import os
import shutil
import tempfile

import pytest

from course.tools import db


@pytest.fixture(scope="module")
def gradebook_server():
    """A fresh PostgreSQL server (``course db start`` into a temporary folder, run as ``postgres``) on
    127.0.0.1; stopped and its folder removed when the module's tests end, whether they passed or not.

    The folder is made under the system's temporary folder, not pytest's (mode 700: the server's user
    could not reach it)."""
    folder = tempfile.mkdtemp(prefix="course-gradebook-test-")
    try:
        yield db.start(folder)
    finally:
        if os.path.exists(os.path.join(folder, db.SERVER_RECORD)):
            db.stop(folder)
        shutil.rmtree(folder, ignore_errors=True)
