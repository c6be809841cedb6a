"""Running a notebook as a student does in Colab (the trained samples): every cell runs, a failing cell
keeps its error and the run goes on, the run is not a grading run, and its kernel is gone afterwards."""

import nbformat
import psutil

from course.tools.student_run import run_as_student


def sandbox_kernels() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True)
            if "course.sandbox.kernel" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE]


def test_does_a_student_run_keep_going_past_an_error_and_leave_no_kernel(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import os\nprint('grading' if 'NBGRADER_EXECUTION' in os.environ else 'colab')"),
        nbformat.v4.new_code_cell("1 / 0"),
        nbformat.v4.new_code_cell("print('after the error')"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    before = {p.pid for p in sandbox_kernels()}
    ran = run_as_student(nb, str(tmp_path / "data"), str(tmp_path / "course"))
    assert ran.cells[0].outputs[0]["text"] == "colab\n"
    assert ran.cells[1].outputs[0]["ename"] == "ZeroDivisionError"
    assert ran.cells[2].outputs[0]["text"] == "after the error\n"
    assert {p.pid for p in sandbox_kernels()} <= before, "the student run's kernel is still running"
    assert not nb.cells[0].get("outputs"), "the notebook handed in was changed"
