"""Does the grading sandbox confine a process: files, network and signals?"""

import json
import socket
import subprocess
import sys
import textwrap

import pytest

from course.sandbox import kernel, landlock

ABI = landlock.abi_version()
pytestmark = pytest.mark.skipif(ABI < 1, reason="this OS offers no Landlock (grading refuses to run here)")

PROBE = textwrap.dedent("""
    import json, os, signal, socket, sys
    from course.sandbox import kernel, landlock
    work, granted, denied, port = sys.argv[1:5]
    landlock.restrict(kernel.sandbox_rules(work, [granted], [denied], []))
    results = {}
    def attempt(name, action):
        try:
            action()
            results[name] = "allowed"
        except Exception as error:
            results[name] = type(error).__name__
    attempt("read granted", lambda: open(os.path.join(granted, "public.txt")).read())
    attempt("write granted", lambda: open(os.path.join(granted, "public.txt"), "a").write("x"))
    attempt("read denied inside granted", lambda: open(os.path.join(denied, "secret.txt")).read())
    attempt("list denied", lambda: os.listdir(denied))
    attempt("write workdir", lambda: open(os.path.join(work, "scratch.txt"), "w").write("x"))
    attempt("read elsewhere", lambda: open(os.path.join(os.path.dirname(work), "elsewhere.txt")).read())
    attempt("import numpy", lambda: __import__("numpy"))
    attempt("connect", lambda: socket.create_connection(("127.0.0.1", int(port)), timeout=5).close())
    attempt("signal parent", lambda: os.kill(os.getppid(), signal.SIGCONT))
    attempt("child reads denied", lambda: __import__("subprocess").run(
        [sys.executable, "-c", f"open({os.path.join(denied, 'secret.txt')!r}).read()"], check=True, capture_output=True))
    print(json.dumps(results))
""")


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    root = tmp_path_factory.mktemp("sandbox")
    work, granted = root / "work", root / "granted"
    denied = granted / "secret"
    for folder in (work, denied):
        folder.mkdir(parents=True)
    (granted / "public.txt").write_text("public")
    (denied / "secret.txt").write_text("secret")
    (root / "elsewhere.txt").write_text("elsewhere")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        run = subprocess.run([sys.executable, "-c", PROBE, str(work), str(granted), str(denied), str(server.getsockname()[1])],
                             capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("action", ["read granted", "write workdir", "import numpy"])
def test_may_the_sandboxed_process_do_what_grading_needs(outcome, action):
    assert outcome[action] == "allowed"


@pytest.mark.parametrize("action", ["write granted", "read denied inside granted", "list denied", "read elsewhere"])
def test_is_every_other_file_out_of_reach(outcome, action):
    assert outcome[action] == "PermissionError"


def test_does_a_child_process_inherit_the_confinement(outcome):
    assert outcome["child reads denied"] == "CalledProcessError"


@pytest.mark.skipif(ABI < 4, reason="TCP rules need Landlock ABI 4")
def test_is_the_network_closed(outcome):
    assert outcome["connect"] == "PermissionError"


@pytest.mark.skipif(ABI < 6, reason="signal scoping needs Landlock ABI 6")
def test_can_the_process_not_signal_the_grader(outcome):
    assert outcome["signal parent"] == "PermissionError"


def test_does_carving_keep_explicitly_granted_folders_inside_a_denied_one(tmp_path):
    (tmp_path / "repo" / ".venv").mkdir(parents=True)
    (tmp_path / "repo" / "course").mkdir()
    (tmp_path / "other").mkdir()
    granted = {str(tmp_path): landlock.READ, str(tmp_path / "repo" / ".venv"): landlock.READ}
    carved = kernel.carve(granted, [str(tmp_path / "repo")])
    assert set(carved) == {str(tmp_path / "other"), str(tmp_path / "repo" / ".venv")}
