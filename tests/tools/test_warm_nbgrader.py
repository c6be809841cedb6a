"""A worker's warm nbgrader: real nbgrader commands forked from one server, each in its own folder and
environment, its output in its own log."""

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import psutil
import pytest

from course.tools import cluster
from course.tools.nbgrader_cmd import SHARED_SERVER_ENV, environment
from course.tools.warm_nbgrader import _servers, _spares, prestart, run_warm, shared_server

CONFIG = 'import os\nc = get_config()\nc.CourseDirectory.db_url = "sqlite:///" + os.environ["WHERE_TO"]\n'


def course(folder) -> str:
    folder.mkdir()
    (folder / "nbgrader_config.py").write_text(CONFIG)
    return str(folder)


# A command that hangs while it grades: its configuration notes the pid of the process that runs it and sleeps.
HANGING = ('import os, time\npath = os.environ["PID_FILE"]\nopen(path + ".new", "w").write(str(os.getpid()))\n'
           'os.rename(path + ".new", path)\ntime.sleep(600)\n')
WORKER = ("import sys\nfrom course.tools.nbgrader_cmd import environment\nfrom course.tools.warm_nbgrader import run_warm\n"
          "run_warm(['db', 'student', 'list'], sys.argv[1], sys.argv[2], environment())\n")


def ended(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` is gone (or a zombie) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def zygotes() -> list[psutil.Process]:
    """The shared warm nbgraders this process started (the servers of their connections are their children)."""
    return [p for p in psutil.Process().children(recursive=True) if "--listen" in p.cmdline() and
            not any("--listen" in parent.cmdline() for parent in p.parents()[:1])]


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


def loaded_modules(code: str, modules: tuple[str, ...]) -> str:
    """Which of ``modules`` a fresh Python process has imported after running ``code``."""
    report = f"import sys\n{code}\nprint(sorted(m for m in {modules!r} if m in sys.modules))"
    return subprocess.run([sys.executable, "-c", report], capture_output=True, text=True, check=True).stdout.strip()


def test_does_a_grading_worker_leave_torch_and_nbgrader_to_its_warm_nbgrader():
    """A worker process that loads the grading task imports neither torch nor nbgrader itself (a second and a
    half of CPU at every worker's start, for nothing): only its warm nbgrader and the kernels need them."""
    assert loaded_modules("import course.tools.grading_task", ("nbgrader", "torch", "torchvision")) == "[]"


def test_does_a_warm_nbgrader_import_what_a_grader_imports_as_it_runs_only_for_that_notebook():
    """torch._dynamo (1.2 s) is imported once before the first seq_classification grading, never for the others."""
    code = "from course.tools.warm_nbgrader import import_for\nimport_for(['hw2_cnn', 'hw2_rnn'])\n"
    assert loaded_modules(code, ("torch._dynamo",)) == "[]"
    assert loaded_modules(code + "import_for(['seq_classification'])", ("torch._dynamo",)) == "['torch._dynamo']"


def test_do_the_workers_of_a_machine_share_one_warm_nbgrader(tmp_path, monkeypatch):
    with shared_server(environment()) as warm:
        monkeypatch.setenv(SHARED_SERVER_ENV, warm[SHARED_SERVER_ENV])
        done = []

        def grade(student):  # a worker's executor thread: a connection of its own to the machine's server
            root, env = course(tmp_path / student), {**environment(), "WHERE_TO": str(tmp_path / f"{student}.db")}
            done.append(run_warm(["db", "student", "add", student], root, os.path.join(root, "log"), env).returncode)
            done.append(_servers.server.process)  # None: no server of its own was started
            _servers.server.close()

        threads = [threading.Thread(target=grade, args=(student,)) for student in ("ann", "ben")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert done.count(0) == 2 and done.count(None) == 2
    assert students(tmp_path / "ann.db") == ["ann"] and students(tmp_path / "ben.db") == ["ben"]


def test_does_a_worker_without_its_shared_server_start_one_of_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv(SHARED_SERVER_ENV, str(tmp_path / "no-such-socket"))
    env = {**environment(), "WHERE_TO": str(tmp_path / "gradebook.db")}
    assert run_warm(["db", "student", "add", "ann"], course(tmp_path / "c"), str(tmp_path / "1.log"), env).returncode == 0
    assert _servers.server.process is not None and students(tmp_path / "gradebook.db") == ["ann"]
    _servers.server.close()


def test_does_a_worker_whose_shared_server_died_go_on_with_one_of_its_own(tmp_path, monkeypatch):
    env = {**environment(), "WHERE_TO": str(tmp_path / "gradebook.db")}
    root = course(tmp_path / "c")
    with shared_server(env) as warm:
        monkeypatch.setenv(SHARED_SERVER_ENV, warm[SHARED_SERVER_ENV])
        assert run_warm(["db", "student", "add", "ann"], root, str(tmp_path / "1.log"), env).returncode == 0
        [shared] = zygotes()
        connection_servers = shared.children()
        shared.kill()
        psutil.wait_procs([shared, *connection_servers], timeout=10)
        lost = run_warm(["db", "student", "add", "ben"], root, str(tmp_path / "2.log"), env)
        assert lost.returncode == -signal.SIGKILL and "died" in (tmp_path / "2.log").read_text()
        assert run_warm(["db", "student", "add", "cat"], root, str(tmp_path / "3.log"), env).returncode == 0
        assert _servers.server.process is not None  # its own
        _servers.server.close()
    assert students(tmp_path / "gradebook.db") == ["ann", "cat"]


@pytest.mark.parametrize("shared", [True, False], ids=["shared server", "worker's own server"])
def test_does_a_grading_end_when_its_worker_is_killed(tmp_path, shared):
    """A worker killed mid-grading leaves no grading running (it would take a core from the next for nothing)."""
    root = tmp_path / "c"
    root.mkdir()
    (root / "nbgrader_config.py").write_text(HANGING)
    env = {**environment(), "PID_FILE": str(tmp_path / "pid")}
    with shared_server(env) if shared else contextlib.nullcontext({}) as warm:
        worker = subprocess.Popen([sys.executable, "-c", WORKER, str(root), str(tmp_path / "log")], env={**env, **warm})
        deadline = time.monotonic() + 120
        while not (tmp_path / "pid").exists() and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        grading = int((tmp_path / "pid").read_text())
        assert not ended(grading, 0.5)  # it hangs
        worker.kill()
        worker.wait()
        assert ended(grading, 10)


def test_do_the_workers_of_the_local_cluster_share_one_warm_nbgrader_stopped_with_the_cluster(tmp_path):
    with cluster.connect(None, 2, f"sqlite:///{tmp_path / 'gradebook.db'}", dashboard=False) as client:
        sockets = set(client.run(lambda: os.environ.get(SHARED_SERVER_ENV)).values())
        [shared] = zygotes()
        assert len(sockets) == 1 and sockets <= {arg for arg in shared.cmdline()}
    assert not shared.is_running() and not zygotes()
