"""Does a grading kernel get a private workspace, and which paths are kept from it?"""

import os

from course.dburl import sqlite_path, sqlite_url
from course.pipeline.workspace import Workspace, denied_paths
from course.same_numbers import SAME_NUMBERS_ENV


def test_does_the_workspace_hold_the_kernels_folders_and_vanish_after():
    workspace = Workspace()
    try:
        for folder in (".home", ".tmp", ".ipython", ".matplotlib"):
            assert os.path.isdir(os.path.join(workspace.work, folder))
        assert os.path.isdir(workspace.io) and os.path.dirname(workspace.io) == workspace.root  # not the kernel's to swap
        env = workspace.environment(threads=1, extra={"HW2_DATA": "/data"})
        assert env["HOME"].startswith(workspace.work) and env["TMPDIR"].startswith(workspace.work)
        assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1" and env["HW2_DATA"] == "/data"
        assert all(env[key] == value for key, value in SAME_NUMBERS_ENV.items())
    finally:
        workspace.remove()
    assert not os.path.exists(workspace.root)


def test_is_the_kernels_environment_an_allow_list(monkeypatch):
    monkeypatch.setenv("COURSE_DB_URL", "postgresql://grader:secret@db/gradebook")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    workspace = Workspace()
    try:
        env = workspace.environment(threads=1, extra={})
    finally:
        workspace.remove()
    assert "COURSE_DB_URL" not in env and "secret" not in repr(env)
    assert env["NBGRADER_EXECUTION"] == "autograde"  # the notebooks' grading mode still reaches them


def test_are_the_course_the_package_its_repository_and_the_gradebook_denied(tmp_path):
    repo, course = tmp_path / "repo", tmp_path / "course"
    denied = denied_paths(str(course), str(repo / "course"), sqlite_url(str(tmp_path / "books" / "gradebook.db")))
    assert denied == [str(course), str(repo / "course"), str(repo), str(tmp_path / "books")]


def test_is_a_package_installed_into_site_packages_denied_alone():
    package = "/usr/lib/python3/site-packages/course"
    assert denied_paths("/srv/course", package, "postgresql://grader@db/gradebook") == ["/srv/course", package]


def test_is_an_sqlite_url_read_with_its_query_string_dropped():
    assert sqlite_path("sqlite:////srv/gradebook.db?timeout=30") == "/srv/gradebook.db"
    assert sqlite_path("postgresql+psycopg://db/gradebook") is None
