"""The catalogue of broken and hostile submissions (issue: a grader that cannot be fooled).

Each entry is one student's hw2_cnn submission, made from the release with the instructor's solutions
of sections 1-4 (section 5 left untouched keeps each run short), then changed the way a careless or
dishonest student would. All entries are graded in one real ``nbgrader autograde`` batch, beside an
honest student whose grades must come out intact. To add a kind of attack, add one ``Attack``.

The batch runs the way a real grading machine does: a gradebook server is up (a real PostgreSQL server,
its URL with the password in the grading process's environment as ``COURSE_DB_URL``) and the course folder
holds a credentials file; the attacks reach for both.
"""

import json
import os
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Callable

import nbformat
import pytest
from nbgrader.api import Gradebook

from course.dburl import sqlite_path
from course.pipeline.record import read_records
from course.sandbox.bubblewrap import KERNEL_UID
from course.tools.autograde import autograde
from course.tools.cli import course_config
from course.tools.nbgrader_cmd import nbgrader
from course.tools.notebooks import fill, grade_id, read
from course.tools.samples import Bug, plant
from sandboxed import CONNECT, DAEMON, FORK_BOMB, printed_value, processes_with
from support import (autograded_cells, autograded_notebook, cell_text, code_solutions_before, make_course,
                     postgres_server)

NOTEBOOK = "hw2_cnn"
SECTIONS_1_TO_4 = code_solutions_before(NOTEBOOK, "## 5.")  # section 5 (training) left out
SECTION_5_TESTS = {"test_build_table_net", "test_convnet_contract", "test_convnet_accuracy",
                   "test_get_loss_and_correct", "test_step"}
# conv2d_forward returning zeros of the right shape: wrong, and the grader must see it whatever else happens.
WRONG_CONV = Bug(NOTEBOOK, "conv2d_forward", "    if b is not None:\n        out += b.reshape(1, filters, 1, 1)\n",
                 "    out = out * 0\n", "hw2_cnn.conv2d_forward")
CONV_TESTS = {"test_conv2d_forward"}
SECRET = f"planted-secret-{uuid.uuid4().hex}"  # the gradebook's password: in the grader's environment and a file
DAEMON_MARKER = f"course-attack-daemon-{uuid.uuid4().hex}"  # in the command line of the daemon an attack starts
MAX_PROCESSES = 64  # per kernel, threads included, in this batch: room for ipykernel's and torch's; a cheap fork bomb


@dataclass
class Attack:
    """One submission of the catalogue.

    ``change`` turns the base notebook into the submitted one (a notebook, or raw file text);
    ``zeroed`` are the test cells that must score nothing; every other test cell of sections 1-4 must keep
    full marks, unless listed in ``spared``. ``check`` adds assertions of its own.
    """

    point: int  # the numbered point of the issue it exercises (100 + n: point n of the second round, issue 11)
    change: Callable
    zeroed: set = field(default_factory=set)
    spared: set = field(default_factory=set)
    check: Callable | None = None


def add_cell(after: str, source: str):
    """Insert a code cell after the cell with grade id ``after``."""
    def change(nb):
        index = next(i for i, c in enumerate(nb.cells) if grade_id(c) == after)
        nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
        return nb
    return change


def with_wrong_conv(change):
    def both(nb):
        return change(plant(nb, WRONG_CONV))
    return both


def edit_cell(name: str, edit: Callable):
    def change(nb):
        edit(next(c for c in nb.cells if grade_id(c) == name))
        return nb
    return change


def chain(*changes):
    def change(nb):
        for step in changes:
            nb = step(nb)
        return nb
    return change


def delete_cell(name: str):
    def change(nb):
        nb.cells = [c for c in nb.cells if grade_id(c) != name]
        return nb
    return change


def move_test_above(test: str, above: str):
    def change(nb):
        cell = next(c for c in nb.cells if grade_id(c) == test)
        nb.cells.remove(cell)
        nb.cells.insert(next(i for i, c in enumerate(nb.cells) if grade_id(c) == above), cell)
        return nb
    return change


def raw(text: str):
    return lambda nb: text


def set_metadata(**values):
    return lambda cell: cell.metadata.nbgrader.update(values)


def make_markdown(cell):
    cell.cell_type = "markdown"
    cell.pop("outputs", None)
    cell.pop("execution_count", None)


def replace_source(text):
    def edit(cell):
        cell.source = text
    return edit


def output_mentions(*words):
    """The graded notebook shows each word in a cell or an output (e.g. the error a cell ran into)."""
    def check(root, student, graded):
        nb = autograded_notebook(root, student, NOTEBOOK)
        text = json.dumps([[c.source, c.get("outputs", [])] for c in nb.cells])
        for word in words:
            assert word in text, f"{word!r} not in the outputs of {student}"
    return check


def part_says(test_cell: str, *words):
    def check(root, student, graded):
        text = cell_text(autograded_notebook(root, student, NOTEBOOK), test_cell)
        for word in words:
            assert word in text, f"{word!r} not in the feedback of {test_cell}: {text}"
    return check


ATTEMPT = """
attempts = {}
def attempt(name, action):
    try:
        action()
        attempts[name] = "DONE"
    except Exception as error:
        attempts[name] = type(error).__name__
"""  # kernel-side: note in `attempts` whether an action was done or which error refused it

REACH_OUTSIDE = """
import os, signal, sqlite3, subprocess, sys
root = "__COURSE_ROOT__"  # a determined student could guess the grader's paths
""" + ATTEMPT + """
def poison():
    sqlite3.connect(f"{root}/gradebook.db").execute("update grade set auto_score = 999").connection.commit()
attempt("gradebook", poison)
attempt("read-submission", lambda: open(f"{root}/submitted/honest/hw2/hw2_cnn.ipynb").read())
attempt("overwrite-autograded", lambda: open(f"{root}/autograded/honest/hw2/hw2_cnn.ipynb", "w").write("{}"))
attempt("read-hidden-tests", lambda: open(f"{root}/source/hw2/hw2_cnn.ipynb").read())
attempt("kill-grader", lambda: os.kill(os.getppid(), signal.SIGKILL))
attempt("child-process", lambda: subprocess.run(
    [sys.executable, "-c", f"open({root!r} + '/gradebook.db', 'a').write('x')"], check=True, timeout=60))
print("ATTEMPTS", attempts)
"""


def printed(root, student: str, tag: str):
    """The value an attack cell printed after ``tag`` on a line of its own (a Python literal)."""
    nb = autograded_notebook(root, student, NOTEBOOK)
    return printed_value("".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs), tag)


# The probes' own code: the compiled file the kernel loads at every probe call lies beside its working folder.
TAMPER_PROBES = """
import os, marshal
shipped = os.path.join(os.path.dirname(os.getcwd()), "shipped")
""" + ATTEMPT + """
forged = marshal.dumps({})
attempt("overwrite", lambda: open(os.path.join(shipped, "probes.marshal"), "wb").write(forged))
attempt("new-file", lambda: open(os.path.join(shipped, "other.marshal"), "wb").write(forged))
attempt("rename-over", lambda: (open("forged", "wb").write(forged), os.replace("forged", os.path.join(shipped, "probes.marshal"))))
attempt("chmod", lambda: os.chmod(shipped, 0o777))
print("ATTEMPTS", attempts)
"""


def probes_untouched(root, student, scores):
    attempts = printed(root, student, "ATTEMPTS")
    assert len(attempts) == 4 and "DONE" not in attempts.values(), attempts


def nothing_got_through(root, student, scores):
    attempts = printed(root, student, "ATTEMPTS")  # the dict the attack printed
    assert len(attempts) == 6 and "DONE" not in attempts.values(), attempts


def no_secret_anywhere(root, student):
    """Neither the planted secret nor the gradebook URL nbgrader was given is in the autograded notebook."""
    with open(os.path.join(root, "autograded", student, "hw2", f"{NOTEBOOK}.ipynb")) as f:
        text = f.read()
    assert SECRET not in text, f"the secret reached {student}'s notebook"
    assert "CourseDirectory.db_url" not in text and "course-autograde-" not in text, "the gradebook URL leaked"


LEAK_SECRETS = """
import glob, os
found = {"environment": dict(os.environ)}
paths = glob.glob("/proc/[0-9]*/environ") + glob.glob("/proc/[0-9]*/cmdline") + [
    "__COURSE_ROOT__/.pgpass", "__COURSE_ROOT__/nbgrader_config.py", os.path.expanduser("~root/.pgpass")]
for path in paths:
    try:
        found[path] = open(path, "rb").read().decode(errors="replace")
    except OSError as error:
        found[path] = type(error).__name__
print("FOUND", {k: v for k, v in found.items() if isinstance(v, str) and v.endswith("Error")})
print(found)  # all of it, into the notebook and the feedback, if it held anything
"""


def leaked_nothing(root, student, scores):
    refused = printed(root, student, "FOUND")
    assert {f"{root}/.pgpass", f"{root}/nbgrader_config.py"} <= set(refused), refused
    no_secret_anywhere(root, student)


ESCAPE = DAEMON.format(marker=DAEMON_MARKER) + FORK_BOMB  # a daemon that would outlive the kernel, a fork bomb


def left_nothing_running(root, student, scores):
    children, refused = printed(root, student, "FORKED")
    assert refused == "BlockingIOError" and children < MAX_PROCESSES, (children, refused)
    assert not processes_with(DAEMON_MARKER), "the attack's daemon outlived its notebook"


PRIVILEGES = ATTEMPT + """
import os, resource
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines())
attempts.update(uid=os.getuid(), capabilities=int(status["CapEff"], 16), no_new_privs=status["NoNewPrivs"].strip())
attempt("raise-heap", lambda: resource.setrlimit(resource.RLIMIT_DATA, (resource.RLIM_INFINITY,) * 2))
attempt("raise-processes", lambda: resource.setrlimit(resource.RLIMIT_NPROC, (resource.RLIM_INFINITY,) * 2))
attempt("become-root", lambda: os.setuid(0))
attempt("write-python", lambda: open(os.__file__, "a").write("#"))
print("PRIVILEGES", attempts)
"""


def ran_unprivileged(root, student, scores):
    attempts = printed(root, student, "PRIVILEGES")
    assert attempts["uid"] == (KERNEL_UID if os.geteuid() == 0 else os.geteuid())
    assert attempts["capabilities"] == 0 and attempts["no_new_privs"] == "1"
    assert "DONE" not in attempts.values(), attempts


GRADEBOOK_SERVER = """
import os
print("VARIABLES", sorted(name for name in os.environ if "DB" in name or name.startswith("PG")))
""" + CONNECT.format(addresses="""[("tcp", socket.AF_INET, ("127.0.0.1", __PG_PORT__)),
    ("unix", socket.AF_UNIX, "__PG_SOCKET__/.s.PGSQL.__PG_PORT__"),
    ("unix-default", socket.AF_UNIX, "/var/run/postgresql/.s.PGSQL.__PG_PORT__")]""")


def reached_no_server(root, student, scores):
    assert printed(root, student, "VARIABLES") == []
    tried = printed(root, student, "CONNECTED")
    assert len(tried) == 3 and "DONE" not in tried.values(), tried
    no_secret_anywhere(root, student)


def duplicate_on_top(test: str):
    def change(nb):
        nb.cells.insert(0, nbformat.from_dict(next(c for c in nb.cells if grade_id(c) == test)))
        return nb
    return change


def forge_test_cell(nb):
    """A student cell pretending to be the conv2d_forward test (same grade id, marked as graded)."""
    forged = nbformat.v4.new_code_cell("print('conv2d_forward: 4 / 4 points')\n4.0")
    forged.metadata["nbgrader"] = {"grade": True, "grade_id": "test_conv2d_forward", "locked": True, "points": 4,
                                   "schema_version": 3, "solution": False, "task": False}
    nb.cells.append(forged)
    return plant(nb, WRONG_CONV)


CONV_SPARED = {"test_conv2d_backward", "test_worked_c", "test_worked_edges", "test_conv_sigmoid", "test_pooling_answers"}
# The limits of the graded batch (short, so that hangs end quickly here): seconds.
ATTACK_LIMITS = {"probe": 10, "grace": 5, "cell": 20, "budget": 120}
SLOW_CELL = ATTACK_LIMITS["cell"] - 5  # seconds a cell of "slow-cells" sleeps: each fits its limit, all overrun the budget
# Gradings that mostly wait for a limit to run out: started first, they wait beside the others, not after them.
# Three workers on two cores: while one waits out a limit, two grade.
BATCH_WORKERS = 3
WAIT_OUT_LIMITS = {"slow-cells", "hang-in-own-cell", "deaf-hang-in-part", "hang-in-part", "endless-max-pool-backward"}

LIBRARY_IN_THREAD = """
import threading

def as_pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)

def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    found = {}
    routine = getattr(torch.nn.functional, "con" + "v2d")
    worker = threading.Thread(target=lambda: found.update(out=routine(x, w, b, stride, padding, dilation)))
    worker.start()
    worker.join()
    return found["out"], (x, w, b, stride, padding, dilation)
"""
LIBRARY_IN_PROCESS = """
import multiprocessing as mp

def as_pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)

def _convolve(args):
    import torch.nn.functional as functional
    return getattr(functional, "con" + "v2d")(*args)

def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    with mp.get_context("fork").Pool(1) as pool:
        out = pool.apply(_convolve, ((x, w, b, stride, padding, dilation),))
    return out, (x, w, b, stride, padding, dilation)
"""


def delete_where(nb, condition):
    nb.cells = [c for c in nb.cells if not condition(c)]
    return nb


def chain_checks(*checks):
    def check(root, student, graded):
        for one in checks:
            one(root, student, graded)
    return check


def record_of(root, student):
    return read_records(str(root / "reports" / "grading"), "hw2", student)[0]


def restarted_and_finished(at_least: int):
    """The kernel died and was restarted at least ``at_least`` times, and every part was still graded."""
    def check(root, student, graded):
        record = record_of(root, student)
        assert record.kernel_restarts >= at_least and not record.gave_up, record
        assert not record.not_graded and all(p.status != "not graded" for c in record.cells for p in c.parts)
    return check


def graded_within(seconds: float):
    def check(root, student, graded):
        assert record_of(root, student).seconds < seconds + 30, record_of(root, student).seconds
    return check


def left_to_instructor(*cells):
    """The cells were not graded in time: the instructor is told (manual grading), the points earned stay."""
    def check(root, student, graded):
        record = record_of(root, student)
        assert set(cells) <= set(record.not_graded), record.not_graded
        with Gradebook(course_config(str(root)).CourseDirectory.db_url) as gradebook:
            for cell in cells:
                assert gradebook.find_grade(cell, NOTEBOOK, "hw2", student).needs_manual_grade
        text = cell_text(autograded_notebook(root, student, NOTEBOOK), cells[0])
        assert "ran out of time" in text
    return check


def notebook_smaller_than(size: int):
    def check(root, student, graded):
        path = root / "autograded" / student / "hw2" / f"{NOTEBOOK}.ipynb"
        assert path.stat().st_size < size, path.stat().st_size
    return check


ATTACKS = {
    # 1. Nothing left behind in the kernel turns a failing check into a passing one.
    "patch-torch": Attack(1, with_wrong_conv(add_cell("conv2d_forward", """
import torch, numpy
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
torch.Tensor.__sub__ = lambda self, other: torch.zeros_like(self)
numpy.allclose = lambda *a, **k: True
""")), zeroed=CONV_TESTS, spared=CONV_SPARED | {"test_tiny_net_gradients"}),  # its own maths breaks without `-`
    "rigged-tensor": Attack(1, with_wrong_conv(add_cell("conv2d_forward", """
class Agreeable(torch.Tensor):
    def __eq__(self, other): return True
    def __sub__(self, other): return torch.zeros_like(torch.Tensor(self))
    def __abs__(self): return torch.zeros_like(torch.Tensor(self))
    def max(self, *a, **k): return torch.tensor(0.0)
_wrong = conv2d_forward
def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    out, cache = _wrong(x, w, b, stride, padding, dilation)
    return out.as_subclass(Agreeable), cache
""")), zeroed=CONV_TESTS, spared={"test_worked_c", "test_worked_edges", "test_pooling_answers", "test_conv_sigmoid"}),
    "fake-course-package": Attack(1, with_wrong_conv(add_cell("conv2d_forward", """
import sys, types
fake = types.ModuleType("course"); fake.__path__ = []
grade = types.ModuleType("course.grade")
def check(part, namespace):
    print("all checks passed")
    return 4.0
grade.check = check
sys.modules.update({"course": fake, "course.grade": grade})
""")), zeroed=CONV_TESTS, spared={"test_worked_c", "test_worked_edges", "test_conv_sigmoid", "test_pooling_answers",
                                   "test_conv2d_backward"}),
    # Hooks that rewrite every later cell sabotage the student's own kernel: what follows may score nothing.
    "ipython-hooks": Attack(1, with_wrong_conv(add_cell("conv2d_forward", """
import sys
ip = get_ipython()
ip.input_transformers_post.append(lambda lines: ["4\\n"] if any("check(" in l or "course" in l for l in lines) else lines)
ip.events.register("post_run_cell", lambda result: print("4/4 points"))
sys.displayhook = lambda value: print(4)
ip.display_pub.publish = lambda *a, **k: None
""")), zeroed=CONV_TESTS, spared={"*"}),
    "patch-builtins": Attack(1, with_wrong_conv(add_cell("pooling_answers", """
import builtins, json
builtins.isinstance = lambda *a: True
builtins.float = lambda *a: 4.0
json.dump = lambda obj, f, *a, **k: f.write('{"ok": 4.0}')
""")), zeroed=CONV_TESTS, spared=set(SECTION_5_TESTS) | {"test_conv_output_size", "test_conv_layer_cost",
    "test_answers_output_size", "test_answers_table", "test_answers_big_layer", "test_answers_valid_conv",
    "test_conv2d_backward", "test_worked_c", "test_worked_edges", "test_conv_sigmoid", "test_conv1d_forward",
    "test_conv1d_grad_w", "test_conv1d_grad_x", "test_conv1d_shapes", "test_max_pool2d_forward",
    "test_max_pool2d_backward", "test_avg_pool2d_forward", "test_lp_pool2d_forward", "test_pooling_answers"}),
    "library-conv": Attack(1, edit_cell("conv2d_forward", replace_source("""
def as_pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)

def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    routine = getattr(torch.nn.functional, "con" + "v2d")
    return routine(x, w, b, stride, padding, dilation), (x, w, b, stride, padding, dilation)
""")), zeroed=CONV_TESTS, spared={"test_conv2d_backward", "test_worked_c", "test_conv_sigmoid", "test_pooling_answers"},
        check=part_says("test_conv2d_forward", "library routine")),
    # 2. Answers taken from the hidden package earn nothing.
    "use-hidden-package": Attack(2, edit_cell("conv2d_forward", replace_source("""
def as_pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)
try:
    from course.reference.conv2d import conv2d_forward
except Exception as error:
    print("import refused:", type(error).__name__)
    import glob
    for path in glob.glob("/work/**/reference/conv2d.py", recursive=True):
        try:
            exec(open(path).read())
        except Exception as error:
            print("read refused:", type(error).__name__)
""")), zeroed=CONV_TESTS, spared={"test_conv2d_backward", "test_worked_c", "test_worked_edges", "test_conv_sigmoid",
                                   "test_pooling_answers"}),
    # 3. Rewritten submissions: points and tests come from the gradebook only.
    "edited-test-cell": Attack(3, chain(edit_cell("test_conv2d_forward", replace_source("print('4 / 4 points')\n4.0")),
                                        edit_cell("test_conv2d_forward", set_metadata(points=100)))),
    "deleted-test-cell": Attack(3, delete_cell("test_conv2d_forward")),
    "moved-test-cell": Attack(3, move_test_above("test_conv2d_forward", "conv_output_size")),
    "duplicated-test-cell": Attack(3, duplicate_on_top("test_conv2d_forward")),
    "renamed-grade-id": Attack(3, edit_cell("test_conv2d_forward", set_metadata(grade_id="my_own_cell"))),
    "flipped-metadata": Attack(3, chain(edit_cell("test_conv2d_forward", set_metadata(solution=True, grade=False, locked=False)),
                                        edit_cell("test_conv1d_forward", make_markdown))),
    "forged-test-cell": Attack(3, forge_test_cell, zeroed=CONV_TESTS,
                               spared={"test_worked_c", "test_worked_edges", "test_conv_sigmoid", "test_pooling_answers",
                                       "test_conv2d_backward"}),
    "not-a-notebook": Attack(3, raw("this is my homework, see attached PDF"), zeroed={"*"},
                             check=output_mentions("could not be graded")),
    "json-not-a-notebook": Attack(3, raw('{"answer": 42}'), zeroed={"*"}),
    # 4. A crash, a hang or a memory runaway costs only its own part.
    "crash-in-part": Attack(4, edit_cell("conv1d", lambda cell: setattr(cell, "source", cell.source.replace(
        '    """x: (C, L), w: (F, C, K) -> (F, L_out), L_out = (L - K) // stride + 1."""',
        '    """x: (C, L), w: (F, C, K) -> (F, L_out), L_out = (L - K) // stride + 1."""\n'
        '    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)'))),
        zeroed={"test_conv1d_forward"}, check=part_says("test_conv1d_forward", "crashed the Python kernel")),
    "hang-in-part": Attack(4, edit_cell("conv1d", lambda cell: setattr(cell, "source", cell.source.replace(
        '    """dl/dW (F, C, K) from x (C, L) and grad_out (F, L_out)."""',
        '    """dl/dW (F, C, K) from x (C, L) and grad_out (F, L_out)."""\n    while True:\n        pass'))),
        zeroed={"test_conv1d_grad_w"}, check=part_says("test_conv1d_grad_w", "time limit")),
    "deaf-hang-in-part": Attack(4, edit_cell("conv1d", lambda cell: setattr(cell, "source", cell.source.replace(
        '    """dl/dx (C, length) from w (F, C, K) and grad_out (F, L_out)."""',
        '    """dl/dx (C, length) from w (F, C, K) and grad_out (F, L_out)."""\n'
        '    import signal, time\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n        time.sleep(0.1)'))),
        zeroed={"test_conv1d_grad_x"}),
    "memory-runaway": Attack(4, edit_cell("pooling", lambda cell: setattr(cell, "source", cell.source.replace(
        '    """Mean of each window: (N, C, H_out, W_out)."""',
        '    """Mean of each window: (N, C, H_out, W_out)."""\n    hoard = []\n    while True:\n'
        '        hoard.append(torch.ones(64, 1024, 1024))'))),
        zeroed={"test_avg_pool2d_forward"}, check=part_says("test_avg_pool2d_forward", "more memory")),
    "crash-in-own-cell": Attack(4, add_cell("conv_layer_cost", "import os\nos._exit(1)"),
                                check=output_mentions("crashed the Python kernel")),
    "hang-in-own-cell": Attack(4, add_cell("conv_layer_cost", "import time\ntime.sleep(10_000)"),
                               check=output_mentions("ran past the limit")),
    # 5. Warnings never zero a passing test.
    "noisy": Attack(5, add_cell("pooling_answers", """
import sys, warnings
_quiet = conv2d_forward
def conv2d_forward(*args, **kwargs):
    warnings.warn("this is a UserWarning from the student's code")
    print("to stderr", file=sys.stderr)
    return _quiet(*args, **kwargs)
""")),
    # 8. The student's code reaches for the gradebook, other students' files, the grader process.
    "reach-outside": Attack(8, add_cell("conv_layer_cost", REACH_OUTSIDE), check=nothing_got_through),
    # Round two (issue 11). 1: a function that kills the kernel whenever it runs costs what uses it, not the rest.
    "exit-in-backward": Attack(101, edit_cell("conv2d_backward", lambda cell: setattr(cell, "source", cell.source.replace(
        '    """Gradients through conv2d_forward.', '    import os\n    os._exit(1)\n    """Gradients through conv2d_forward.'))),
        zeroed={"test_conv2d_backward", "test_worked_c", "test_conv_sigmoid"}, spared={"test_pooling_answers"},
        check=chain_checks(restarted_and_finished(3), part_says("test_conv2d_backward", "crashed the Python kernel"))),
    # 2. Every test cell deleted (and a given cell beside them): all restored from the gradebook and graded.
    "deleted-every-test-cell": Attack(102, lambda nb: delete_where(nb, lambda c: grade_id(c) and (
        grade_id(c).startswith("test_") or grade_id(c) == "gradient_check"))),
    # 5. A common student bug: an endless loop. It costs its own part, within the limits, not 15 minutes.
    "endless-max-pool-backward": Attack(105, edit_cell("pooling", lambda cell: setattr(cell, "source", cell.source.replace(
        '    """Returns dx (N, C, H, W)."""', '    """Returns dx (N, C, H, W)."""\n    while True:\n        pass'))),
        zeroed={"test_max_pool2d_backward"}, check=graded_within(ATTACK_LIMITS["budget"])),
    # ... and a notebook of many slow cells runs out of its budget: the rest is left to the instructor.
    "slow-cells": Attack(105, chain(*[add_cell("pooling_answers", f"import time\ntime.sleep({SLOW_CELL})")
                                      for _ in range(ATTACK_LIMITS["budget"] // SLOW_CELL + 2)]),
                         zeroed={"test_pooling_answers"},
                         check=chain_checks(graded_within(ATTACK_LIMITS["budget"]), left_to_instructor("test_pooling_answers"))),
    # 6. The library convolution run from another thread or process, behind names built at run time.
    "library-conv-in-thread": Attack(106, edit_cell("conv2d_forward", replace_source(LIBRARY_IN_THREAD)),
                                     zeroed=CONV_TESTS, spared=CONV_SPARED, check=part_says("test_conv2d_forward", "cannot be verified")),
    "library-conv-in-process": Attack(106, edit_cell("conv2d_forward", replace_source(LIBRARY_IN_PROCESS)),
                                      zeroed=CONV_TESTS, spared=CONV_SPARED, check=part_says("test_conv2d_forward", "cannot be verified")),
    # 7. A flood of printing: cut at the stated size, the notebook stays small, nothing else changes.
    "output-flood": Attack(107, add_cell("conv_layer_cost", "for _ in range(600):\n    print('x' * 100_000)"),
                           check=chain_checks(output_mentions("was cut at"), notebook_smaller_than(2_000_000))),
    # The probes' code cannot be rewritten between calls: the wrong conv2d_forward is still seen as wrong.
    "tamper-probes": Attack(106, with_wrong_conv(add_cell("conv_layer_cost", TAMPER_PROBES)), zeroed=CONV_TESTS,
                            spared=CONV_SPARED, check=probes_untouched),
    # Issue 11, 3. No secret of the grading process reaches student code, by any route.
    "leak-secrets": Attack(3, add_cell("conv_layer_cost", LEAK_SECRETS), check=leaked_nothing),
    # Issue 11, 4. Nothing the kernel started outlives its notebook; the kernel starts a bounded number.
    "escape-and-fork": Attack(4, add_cell("conv_layer_cost", ESCAPE), check=left_nothing_running),
    # Issue 11, 8. Student code runs unprivileged: its own uid, no capabilities, limits it cannot raise.
    "privileges": Attack(8, add_cell("conv_layer_cost", PRIVILEGES), check=ran_unprivileged),
    # Issue 12, 3. The gradebook server's credentials stay unseen, and the server out of reach.
    "reach-gradebook-server": Attack(3, add_cell("conv_layer_cost", GRADEBOOK_SERVER), check=reached_no_server),
}


def submit(root, student: str, attack: Attack, known: dict[str, str]) -> None:
    """Write the student's submission; ``known`` replaces placeholders (what a determined student could
    find out about the grading machine: its paths, its gradebook server's port)."""
    base = fill(read(os.path.join(root, "release", "hw2", f"{NOTEBOOK}.ipynb")),
                read(os.path.join(root, "source", "hw2", f"{NOTEBOOK}.ipynb")), SECTIONS_1_TO_4)
    result = attack.change(base)
    folder = os.path.join(root, "submitted", student, "hw2")
    os.makedirs(folder, exist_ok=True)
    text = result if isinstance(result, str) else nbformat.writes(result)
    for placeholder, value in known.items():
        text = text.replace(placeholder, value)
    with open(os.path.join(folder, f"{NOTEBOOK}.ipynb"), "w") as f:
        f.write(text)


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("attacks"))
    with open(root / "nbgrader_config.py", "a") as f:  # short limits, so hangs end quickly here
        f.write(f"\nc.GuardedExecute.probe_timeout = {ATTACK_LIMITS['probe']}\n"
                f"c.GuardedExecute.interrupt_grace = {ATTACK_LIMITS['grace']}\n"
                f"c.Execute.timeout = {ATTACK_LIMITS['cell']}\nc.GuardedExecute.memory_limit_mb = 3000\n"
                f"c.GuardedExecute.notebook_budget = {ATTACK_LIMITS['budget']}\n"
                f"c.GuardedExecute.max_kernel_processes = {MAX_PROCESSES}\n")
    url = course_config(str(root)).CourseDirectory.db_url
    with postgres_server(SECRET) as server:
        server.accepts_connections()  # from here: so what the kernel cannot reach is kept from it by the sandbox
        (root / ".pgpass").write_text(f"127.0.0.1:{server.port}:*:grader:{SECRET}\n")
        known = {"__COURSE_ROOT__": str(root), "__PG_PORT__": str(server.port), "__PG_SOCKET__": server.socket_dirs[0]}
        for student, attack in ATTACKS.items():
            submit(root, student, attack, known)
        submit(root, "honest", Attack(0, lambda nb: nb), known)
        submit(root, "honest-again", Attack(0, lambda nb: nb), known)
        students = sorted(ATTACKS, key=lambda student: (student not in WAIT_OUT_LIMITS, student)) + ["honest", "honest-again"]
        os.environ["COURSE_DB_URL"] = server.url  # the grading processes hold the server's password
        try:
            outcomes = {o.student: o
                        for o in autograde(str(root), students, url, workers=BATCH_WORKERS, force=True, progress=False)}
        finally:
            del os.environ["COURSE_DB_URL"]
    return root, outcomes, scores_of(root)


def scores_of(root) -> dict[str, dict[str, float]]:
    with Gradebook(course_config(str(root)).CourseDirectory.db_url) as gradebook:
        return {sub.student.id: {g.name: g.auto_score for g in sub.grades}
                for sub in gradebook.find_notebook(NOTEBOOK, "hw2").submissions}


def expected_honest(root) -> dict[str, float]:
    cells = autograded_cells(root, NOTEBOOK)
    return {g: (0.0 if g in SECTION_5_TESTS else m) for g, m in cells.items()}


@pytest.mark.parametrize("student", sorted(ATTACKS))
def test_does_the_attack_earn_nothing_and_cost_nothing_else(attacked, student):
    root, outcomes, scores = attacked
    attack = ATTACKS[student]
    assert outcomes[student].ok, f"grading {student} failed: see {outcomes[student].log}"
    honest = expected_honest(root)
    got = scores[student]
    for cell, points in honest.items():
        if "*" in attack.zeroed or cell in attack.zeroed:
            assert got[cell] == 0, f"{student} earned {got[cell]} in {cell}"
        elif cell not in attack.spared and "*" not in attack.spared:
            assert got[cell] == points, f"{student} lost points in {cell} ({got[cell]} of {points})"
        else:
            assert got[cell] <= points
    if attack.check:
        attack.check(root, student, got)


def test_are_the_honest_students_graded_in_full_beside_the_attackers(attacked):
    root, outcomes, scores = attacked
    expected = expected_honest(root)
    assert {cell: scores["honest"][cell] for cell in expected} == expected
    assert scores["honest-again"] == scores["honest"]


def test_is_grading_deterministic_cell_by_cell(attacked):
    root, outcomes, scores = attacked
    first = {s: dict(v) for s, v in scores.items()}
    url = course_config(str(root)).CourseDirectory.db_url
    autograde(str(root), ["flipped-metadata", "rigged-tensor"], url, workers=2, force=True, progress=False)
    again = scores_of(root)
    for student in ("flipped-metadata", "rigged-tensor"):
        assert again[student] == first[student]


def test_does_the_feedback_hide_hidden_tests_and_reference_code(attacked):
    root, outcomes, scores = attacked
    nbgrader(["generate_feedback", "hw2", "--force"], str(root), log_path=str(root / "reports" / "feedback.log"))
    pages = list((root / "feedback").rglob("*.html"))
    assert len(pages) >= len(ATTACKS)
    for page in pages:
        html = page.read_text()
        for secret in ("BEGIN HIDDEN TESTS", "from course.grade import check", "F.unfold(x, (kh, kw)"):
            assert secret not in html, f"{page} shows {secret!r}"


def test_is_an_unreadable_file_reported_to_its_owner_and_the_instructor(attacked):
    root, outcomes, scores = attacked
    assert outcomes["not-a-notebook"].unreadable == [NOTEBOOK] and "unreadable" in outcomes["not-a-notebook"].status
    nbgrader(["generate_feedback", "hw2", "--force", "--student=not-a-notebook"], str(root))
    html = (root / "feedback" / "not-a-notebook" / "hw2" / f"{NOTEBOOK}.html").read_text()
    assert "could not be graded" in html and "not valid notebook JSON" in html


def test_are_other_students_files_intact_after_the_attacks(attacked):
    root, outcomes, scores = attacked
    honest = read(os.path.join(root, "autograded", "honest", "hw2", f"{NOTEBOOK}.ipynb"))
    assert honest.cells, "the honest student's autograded notebook was emptied"
    connection = sqlite3.connect(sqlite_path(course_config(str(root)).CourseDirectory.db_url))
    assert connection.execute("select count(*) from grade where auto_score >= 999").fetchone()[0] == 0
