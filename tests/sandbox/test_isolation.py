"""Does each layer around a grading kernel hold: its environment, its processes, its identity, its limits,
its network and its filesystem? One real kernel, started as grading starts it, answers from inside."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from jupyter_core.utils import run_sync

from course.probes import codec
from course.sandbox.bubblewrap import KERNEL_UID
from course.sandbox.manager import sandbox_layers
from course.tools.nbgrader_cmd import SHARED_SERVER_ENV, environment
from course.tools.warm_nbgrader import shared_server
from sandboxed import CONNECT, DAEMON, FORK_BOMB, REPO, SandboxedKernel, printed_value, processes_with

UID = KERNEL_UID if os.geteuid() == 0 else None
pytestmark = pytest.mark.skipif(not sandbox_layers(UID).namespaces,
                                reason="this machine cannot make the kernel's namespaces (grading refuses to run here)")

SECRET = f"planted-secret-{uuid.uuid4().hex}"
MAX_PROCESSES = 64


@pytest.fixture(scope="module")
def kernel():
    os.environ["COURSE_PLANTED_SECRET"] = SECRET  # in the grading process's environment, as a credential would be
    try:
        started = SandboxedKernel(max_processes=MAX_PROCESSES)
    finally:
        del os.environ["COURSE_PLANTED_SECRET"]
    yield started
    started.close()


def kernel_answer(kernel, code: str):
    """The JSON value ``code`` prints on its last line."""
    return json.loads(kernel.run(textwrap.dedent(code)).strip().splitlines()[-1])


def processes_once_settled(marker: str, expect_any: bool, seconds: float = 10) -> list:
    """The processes with ``marker``, polled until there are some (``expect_any``) or none, or ``seconds``
    pass: a daemon forking itself away is, for a moment, in no process table listing."""
    deadline = time.monotonic() + seconds
    while bool(alive := processes_with(marker)) != expect_any and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def test_does_the_kernel_get_none_of_the_graders_environment(kernel):
    env = kernel_answer(kernel, "import json, os; print(json.dumps(dict(os.environ)))")
    assert SECRET not in json.dumps(env)
    assert "PYTHONPATH" not in env and env["JPY_PARENT_PID"] == "1" and env["OMP_NUM_THREADS"] == "1"


def test_are_the_grading_processes_out_of_the_kernels_sight(kernel):
    seen = kernel_answer(kernel, """
        import json, os
        seen = {}
        for pid in (p for p in os.listdir("/proc") if p.isdigit()):
            for part in ("cmdline", "environ"):
                try:
                    seen[pid + "/" + part] = open(f"/proc/{pid}/{part}", "rb").read().decode(errors="replace")
                except OSError as error:
                    seen[pid + "/" + part] = type(error).__name__
        print(json.dumps(seen))
    """)
    assert len({key.split("/")[0] for key in seen}) <= 6, seen  # bwrap's, the kernel's, this cell's: no more
    text = json.dumps(seen)
    assert SECRET not in text and "pytest" not in text


def test_does_the_kernel_run_as_its_own_user_without_privileges(kernel):
    status = kernel_answer(kernel, """
        import json
        print(json.dumps(dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines())))
    """)
    uid = UID if UID is not None else os.getuid()
    assert status["Uid"].split() == [str(uid)] * 4 and status["Gid"].split() == [str(uid)] * 4
    assert int(status["CapEff"], 16) == int(status["CapPrm"], 16) == int(status["CapBnd"], 16) == 0
    assert status["NoNewPrivs"] == "1"
    if UID is not None:
        assert status["Groups"].strip() == ""


def test_can_the_kernel_not_raise_its_limits(kernel):
    attempts = kernel_answer(kernel, """
        import ctypes, json, os, resource
        def new_user_namespace():
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
                raise OSError(ctypes.get_errno(), "unshare")
        attempts = {}
        for name, action in [
                ("heap", lambda: resource.setrlimit(resource.RLIMIT_DATA, (resource.RLIM_INFINITY,) * 2)),
                ("processes", lambda: resource.setrlimit(resource.RLIMIT_NPROC, (10 ** 6,) * 2)),
                ("root", lambda: os.setuid(0)),
                ("new user namespace", new_user_namespace)]:
            try:
                action()
                attempts[name] = "DONE"
            except Exception as error:
                attempts[name] = type(error).__name__
        print(json.dumps(attempts))
    """)
    assert "DONE" not in attempts.values(), attempts


def test_is_the_number_of_processes_bounded(kernel):
    children, refused = printed_value(kernel.run(FORK_BOMB), "FORKED")
    assert refused == "BlockingIOError" and 0 < children < MAX_PROCESSES  # the kernel's threads count too
    assert kernel.run("print(sum(range(4)))").strip() == "6"  # and the kernel still works afterwards


def test_is_the_network_closed(kernel, tmp_path):
    """No TCP, and no unix socket of the machine: one of the test's, nor the shared warm nbgrader's, which
    forks gradings for whoever connects."""
    unix_path = str(tmp_path / "server.sock")
    with socket.socket() as tcp, socket.socket(socket.AF_UNIX) as unix, shared_server(environment()) as warm:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        unix.bind(unix_path)
        unix.listen()
        addresses = (f'[("tcp", socket.AF_INET, ("127.0.0.1", {tcp.getsockname()[1]})), '
                     f'("unix", socket.AF_UNIX, {unix_path!r}), '
                     f'("warm nbgrader", socket.AF_UNIX, {warm[SHARED_SERVER_ENV]!r})]')
        tried = printed_value(kernel.run(CONNECT.format(addresses=addresses)), "CONNECTED")
    assert set(tried) == {"tcp", "unix", "warm nbgrader"} and "DONE" not in tried.values(), tried
    interfaces = kernel_answer(kernel, "import json, socket\nprint(json.dumps([n for _, n in socket.if_nameindex()]))")
    assert interfaces == ["lo"]


def test_does_the_kernel_see_only_what_it_may_read(kernel):
    home = os.path.expanduser("~")
    exists = kernel_answer(kernel, f"""
        import json, os
        print(json.dumps({{path: os.path.exists(path) for path in
                           [{str(REPO / "course" / "grade")!r}, {str(REPO / "nbgrader_config.py")!r},
                            "/var/run/postgresql", {sys.executable!r}]}}))
    """)
    assert exists == {str(REPO / "course" / "grade"): False, str(REPO / "nbgrader_config.py"): False,
                      "/var/run/postgresql": False, sys.executable: True}
    in_home = kernel_answer(kernel, f"""
        import json, os
        try:
            print(json.dumps(os.listdir({home!r})))
        except OSError as error:  # Landlock: not even listed
            print(json.dumps([]))
    """)
    way_to_python = os.path.relpath(sys.base_prefix, home).split(os.sep)[0]  # the one thing there, if Python is
    assert set(in_home) <= {way_to_python}, in_home


def test_can_a_running_cell_still_be_interrupted(kernel):
    msg_id = kernel.kc.execute("while True:\n    pass")
    time.sleep(1)
    run_sync(kernel.km.interrupt_kernel)()
    while (reply := run_sync(kernel.kc.get_shell_msg)(timeout=30))["parent_header"].get("msg_id") != msg_id:
        pass
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
    assert run_sync(kernel.km.is_alive)()


def test_does_the_grader_follow_no_link_the_kernel_leaves_in_the_probe_folder(kernel):
    planted = os.path.join(kernel.workspace.io, "probe-planted")
    planting = kernel.run(f"import os\nos.symlink('/etc/passwd', {planted + '.out.json'!r})\n"
               f"os.symlink('/etc/hostname', {planted + '.in.json'!r})\nos.mkfifo({planted + '.out.npz'!r})")
    assert planting == "", planting
    with pytest.raises(OSError):
        codec.load(planted + ".out")  # neither the link nor the pipe (which would block)
    hostname = open("/etc/hostname").read()
    codec.save(planted + ".in", {"x": 1.0})
    assert not os.path.islink(planted + ".in.json") and open("/etc/hostname").read() == hostname  # not written through
    assert codec.load(planted + ".in") == {"x": 1.0}


def test_is_nothing_the_kernel_started_alive_after_its_shutdown():
    marker = f"course-daemon-{uuid.uuid4().hex}"
    kernel = SandboxedKernel()
    try:
        kernel.run(DAEMON.format(marker=marker))
        assert processes_once_settled(marker, expect_any=True), "the daemon did not start"
    finally:
        kernel.close()
    assert not processes_once_settled(marker, expect_any=False)


def test_is_nothing_the_kernel_started_alive_after_the_grader_is_killed():
    marker = f"course-daemon-{uuid.uuid4().hex}"
    grader = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO / "tests")!r})
        from sandboxed import SandboxedKernel
        kernel = SandboxedKernel()
        kernel.run({DAEMON.format(marker=marker)!r})
        print(kernel.workspace.root, flush=True)
        time.sleep(600)
    """)
    process = subprocess.Popen([sys.executable, "-c", grader], stdout=subprocess.PIPE, text=True)
    workspace = process.stdout.readline().strip()
    try:
        assert processes_once_settled(marker, expect_any=True), "the daemon did not start"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert not processes_once_settled(marker, expect_any=False)
    finally:
        process.kill()
        subprocess.run(["rm", "-rf", workspace], check=False)


def test_does_a_machine_without_bubblewrap_say_how_to_get_it(tmp_path):
    check = "from course.sandbox.manager import sandbox_layers; print(sandbox_layers(None).missing)"
    env = {**os.environ, "PATH": str(tmp_path)}  # a PATH on which there is no bwrap
    said = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, check=True).stdout
    assert "bubblewrap is not installed" in said and "apt-get install bubblewrap" in said
