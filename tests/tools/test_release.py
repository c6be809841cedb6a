"""Is the committed release what nbgrader makes of the source, clean, and runnable as in Colab?"""

import json

import pytest

from course.tools.check_release import check_release
from course.tools.cli import main
from course.assignment import NOTEBOOKS
from course.tools.notebooks import read

RELEASED = sorted(p.stem for p in (__import__("support").REPO / "release" / "hw2").glob("*.ipynb"))


def comparable(path):
    """A notebook as JSON, with nothing that legitimately varies between generations."""
    data = json.loads(path.read_text())
    for cell in data["cells"]:
        cell.pop("id", None)
    return data


def test_does_the_release_hold_one_notebook_per_source_notebook(repo):
    assert RELEASED == sorted(p.stem for p in (repo / "source" / "hw2").glob("*.ipynb"))
    assert set(RELEASED) <= set(NOTEBOOKS)


@pytest.mark.parametrize("name", RELEASED)
def test_is_the_committed_release_in_step_with_the_source(repo, course_dir, name):
    generated = course_dir / "release" / "hw2" / f"{name}.ipynb"
    assert comparable(repo / "release" / "hw2" / f"{name}.ipynb") == comparable(generated), \
        "release/ is out of date: run `course release --placeholder-link` (or with your --colab-base) and commit it"


@pytest.mark.parametrize("name", RELEASED)
def test_does_the_release_hide_solutions_hidden_tests_and_the_hidden_package(repo, name):
    text = (repo / "release" / "hw2" / f"{name}.ipynb").read_text()
    for secret in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "import course", "from course"):
        assert secret not in text


@pytest.mark.parametrize("name", RELEASED)
def test_do_the_source_notebooks_hold_no_outputs(repo, name):
    nb = read(str(repo / "source" / "hw2" / f"{name}.ipynb"))
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("name", RELEASED)
def test_does_the_release_with_solutions_run_as_in_colab(course_dir, name, monkeypatch):
    monkeypatch.chdir(course_dir)
    problems = check_release(str(course_dir), [name])
    assert not problems, "\n".join(map(str, problems))


def test_does_release_refuse_a_placeholder_colab_link_unless_asked(scratch_course, capsys):
    assert main(["--root", str(scratch_course), "release"]) == 2
    said = capsys.readouterr().out
    assert "placeholder" in said and "--colab-base" in said and "COURSE_COLAB_BASE" in said
