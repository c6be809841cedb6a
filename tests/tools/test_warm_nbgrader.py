"""A worker's warm nbgrader: real nbgrader commands forked from one server, each in its own folder and
environment, its output in its own log."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading

from course.tools.nbgrader_cmd import environment
from course.tools.warm_nbgrader import _servers, _spares, prestart, run_warm

CONFIG = 'import os\nc = get_config()\nc.CourseDirectory.db_url = "sqlite:///" + os.environ["WHERE_TO"]\n'


def course(folder) -> str:
    folder.mkdir()
    (folder / "nbgrader_config.py").write_text(CONFIG)
    return str(folder)


def students(path) -> list[str]:
    return [row[0] for row in sqlite3.connect(path).execute("select id from student order by id")]


def test_does_each_command_run_in_its_folder_with_its_environment_and_log(tmp_path):
    gradebook = tmp_path / "elsewhere.db"
    env = {**environment(), "WHERE_TO": str(gradebook)}
    first, second = course(tmp_path / "first"), course(tmp_path / "second")
    added = run_warm(["db", "student", "add", "bob"], first, str(tmp_path / "first.log"), env)
    listed = run_warm(["db", "student", "list"], second, str(tmp_path / "second.log"), env)
    assert added.returncode == 0 and listed.returncode == 0, (tmp_path / "first.log").read_text()
    assert students(gradebook) == ["bob"]  # each read its own folder's config and this environment
    assert "bob" in (tmp_path / "second.log").read_text()


def test_does_a_failing_command_return_its_exit_status_and_its_message(tmp_path):
    env = {**environment(), "WHERE_TO": str(tmp_path / "gradebook.db")}
    result = run_warm(["autograde", "no-such-assignment"], course(tmp_path / "c"), str(tmp_path / "log"), env)
    assert result.returncode != 0 and "no-such-assignment" in (tmp_path / "log").read_text()


def test_is_the_server_kept_for_many_commands_and_started_again_when_it_died(tmp_path):
    env = {**environment(), "WHERE_TO": str(tmp_path / "gradebook.db")}
    root = course(tmp_path / "c")
    run_warm(["db", "student", "add", "ann"], root, str(tmp_path / "1.log"), env)
    server = _servers.server.process.pid
    run_warm(["db", "student", "add", "ben"], root, str(tmp_path / "2.log"), env)
    assert _servers.server.process.pid == server
    os.kill(server, signal.SIGKILL)
    _servers.server.process.wait()
    assert run_warm(["db", "student", "add", "cat"], root, str(tmp_path / "3.log"), env).returncode == 0
    assert _servers.server.process.pid != server and students(tmp_path / "gradebook.db") == ["ann", "ben", "cat"]


def test_does_a_command_that_cannot_start_fail_alone(tmp_path):
    env = {**environment(), "WHERE_TO": str(tmp_path / "gradebook.db")}
    missing = run_warm(["db", "student", "list"], str(tmp_path / "no-such-folder"), str(tmp_path / "1.log"), env)
    assert missing.returncode != 0
    root = course(tmp_path / "c")
    assert run_warm(["db", "student", "add", "ann"], root, str(tmp_path / "2.log"), env).returncode == 0
    assert students(tmp_path / "gradebook.db") == ["ann"]


def test_does_the_first_command_of_a_thread_take_the_server_started_ahead(tmp_path):
    env = {**environment(), "WHERE_TO": str(tmp_path / "gradebook.db")}
    root = course(tmp_path / "c")
    prestart(env)
    prestart(env)  # one waits already: no second
    assert len(_spares) == 1
    ahead, used = _spares[0].process.pid, []

    def grade():  # a thread of its own, with no server yet, as a worker's executor thread
        assert run_warm(["db", "student", "add", "ann"], root, str(tmp_path / "1.log"), env).returncode == 0
        used.append(_servers.server.process.pid)
        _servers.server.close()

    thread = threading.Thread(target=grade)
    thread.start()
    thread.join()
    assert used == [ahead] and not _spares and students(tmp_path / "gradebook.db") == ["ann"]


def test_does_a_grading_worker_leave_torch_to_its_warm_nbgrader():
    """A worker process that loads the grading task imports no torch itself (a second's CPU at every
    worker's start, for nothing): only its warm nbgrader and the kernels need it."""
    loaded = subprocess.run([sys.executable, "-c", "import sys, course.tools.grading_task\n"
                             "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"],
                            capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
