"""``course``: the instructor's commands. Run them from the course folder (the one with nbgrader_config.py).

    course release            regenerate release/hw2 from source/hw2 (with Open-in-Colab links)
    course collect ZIP        LMS bulk download (one .ipynb per student) -> submitted/
    course autograde          autograde submissions in parallel (--workers N, --student ID ...)
    course feedback           per-student HTML feedback (scores and messages, never hidden tests)
    course export             grades.csv for the LMS and per-part score plots in reports/
    course check-release      run every release notebook, solutions filled in, as in Colab
    course samples            sample submissions (--trained: run as a student runs them in Colab, weights stored)
    course rubrics            the reference run whose plots the TAs' rubrics show (reports/reference/)
    course data fetch         download CIFAR-10 once into the grading data folder (needs the internet)
    course demo               all of the above on sample submissions, then a score table
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from nbgrader.api import Gradebook

from course.tools import autograde as autograding
from course.data import cifar
from course.pipeline.release import PLACEHOLDER_BASE, is_placeholder
from course.tools import check_release, collect, export, rubrics, samples
from course.tools.nbgrader_cmd import nbgrader
from course.assignment import ASSIGNMENT
from course.dburl import sqlite_path
from course.pipeline.record import read_records


def course_config(root: str):
    """The course's nbgrader configuration, loaded the way nbgrader loads it (a broken file is an error
    here: nbgrader itself would silently fall back to unprotected defaults)."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=root).load_config()


def db_url(root: str) -> str:
    return course_config(root).CourseDirectory.db_url


def submitted_students(root: str) -> list[str]:
    folder = os.path.join(root, "submitted")
    return sorted(s for s in os.listdir(folder) if os.path.isdir(os.path.join(folder, s, ASSIGNMENT))) \
        if os.path.isdir(folder) else []


def score_table(outcomes) -> str:
    """Per student and notebook: autograded points, the student's status and time."""
    lines = [f"{'student':<12} {'notebook':<20} {'autograded':>12}   status"]
    for outcome in outcomes:
        records = read_records(autograding.grading_records(os.getcwd()), ASSIGNMENT, outcome.student)
        for record in records:
            lines.append(f"{outcome.student:<12} {record.notebook:<20} {record.points:>5g} / {record.max_points:<4g}   "
                         f"{outcome.status}, {record.seconds:.0f} s")
        if not records:
            lines.append(f"{outcome.student:<12} {'-':<20} {'-':>12}   {outcome.status}")
    return "\n".join(lines)


def colab_base(args) -> str:
    """The Colab URL of the published release folder: --colab-base, $COURSE_COLAB_BASE, or the configuration's."""
    return args.colab_base or os.environ.get("COURSE_COLAB_BASE") or \
        course_config(args.root).get("AddColabLink", {}).get("base_url", PLACEHOLDER_BASE)


def cmd_release(args):
    """Regenerate the release; when nbgrader refuses (the gradebook already holds submissions and the
    source gained or lost notebooks or graded cells), the previous release is put back untouched. A release
    whose "Open in Colab" links would point at the placeholder is refused unless asked for explicitly."""
    if is_placeholder(colab_base(args)) and not args.placeholder_link:
        print("Release NOT generated: its \"Open in Colab\" links would point at a placeholder. Say where the release "
              "is published: course release --colab-base https://colab.research.google.com/github/ORG/REPO/blob/BRANCH/release "
              "(or set COURSE_COLAB_BASE, or c.AddColabLink.base_url in nbgrader_config.py). To generate it with the "
              "placeholder anyway (a demo), add --placeholder-link.")
        return 2
    extra = [f"--AddColabLink.base_url={args.colab_base}"] if args.colab_base else []
    release = os.path.join(args.root, "release", ASSIGNMENT)
    with tempfile.TemporaryDirectory() as backup:
        if os.path.isdir(release):
            shutil.copytree(release, os.path.join(backup, ASSIGNMENT))
        try:
            nbgrader(["generate_assignment", ASSIGNMENT, "--force", *extra], args.root)
        except subprocess.CalledProcessError:
            shutil.rmtree(release, ignore_errors=True)
            if os.path.isdir(os.path.join(backup, ASSIGNMENT)):
                shutil.copytree(os.path.join(backup, ASSIGNMENT), release)
            print("Release NOT regenerated (the previous one is back in place): nbgrader refused, see above. "
                  "A gradebook that already holds submissions cannot take added or removed notebooks or graded cells.")
            return 1
    return 0


def cmd_collect(args):
    for line in collect.collect(args.root, args.zip):
        print(line)


def cmd_autograde(args):
    course_config(args.root)
    students = args.student or submitted_students(args.root)
    outcomes = autograding.autograde(args.root, students, db_url(args.root), workers=args.workers, force=args.force)
    print(score_table(outcomes))
    failed = [o for o in outcomes if not o.ok]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} graded, "
          f"{sum(o.grader_errors for o in outcomes)} grader error(s), {len(failed)} failed"
          + (": " + ", ".join(f"{o.student} ({o.log})" for o in failed) if failed else ""))
    return 1 if failed else 0


def cmd_feedback(args):
    students = [f"--student={s}" for s in args.student or []]
    nbgrader(["generate_feedback", ASSIGNMENT, "--force", *students], args.root)


def cmd_export(args):
    url = db_url(args.root)
    print("grades:", export.write_grades_csv(url, os.path.join(args.root, "grades.csv")))
    for path in export.write_report(url, os.path.join(args.root, "reports")):
        print("report:", path)


def cmd_check_release(args):
    names = args.notebook or samples.available_notebooks(args.root)
    problems = check_release.check_release(args.root, names)
    for problem in problems:
        print("PROBLEM", problem)
    print(f"{len(names)} release notebook(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


DEMO_OUTPUTS = ("gradebook.db", "submitted", "autograded", "feedback", "reports", "grades.csv")


def reset_demo(root: str) -> None:
    """Start the demo from a clean slate, unless the gradebook holds real students (then refuse)."""
    demo = {s.student for s in samples.demo_samples(root)}
    url = db_url(root)
    if sqlite_path(url) and os.path.exists(sqlite_path(url)):
        with Gradebook(url) as gradebook:
            others = {s.id for s in gradebook.students} - demo
        if others:
            raise SystemExit(f"The gradebook holds real students ({', '.join(sorted(others)[:5])}...): "
                             "run the demo in a fresh clone instead.")
    for name in DEMO_OUTPUTS:
        path = os.path.join(root, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def cmd_samples(args):
    """Write sample submissions: the instructor's solutions, optionally run as a student runs them in Colab."""
    sample = samples.Sample(args.student, samples.everything(args.root), trained=args.trained, through_colab=args.colab)
    print("sample submission:", sample.submit(args.root))


def cmd_rubrics(args):
    """The reference run the rubrics compare with: the solutions run as a student runs them in Colab."""
    for name in samples.available_notebooks(args.root):
        print("reference run:", rubrics.write_reference_run(args.root, name))


def cmd_data(args):
    """``course data fetch``: CIFAR-10 into the grading data folder, once, through torchvision's download."""
    folder = cifar.fetch(grading_data_root(args.root))
    print("CIFAR-10 is in", folder, "- grading evaluates trained models on its test split")


def grading_data_root(root: str) -> str:
    """The grading data folder of the course (``GuardedExecute.data_root``)."""
    return course_config(root).get("GuardedExecute", {}).get("data_root", os.path.join(root, "data", "grading"))


def cmd_demo(args):
    reset_demo(args.root)
    if cmd_release(argparse.Namespace(root=args.root, colab_base=None, placeholder_link=True)):
        return 1
    cmd_rubrics(args)
    for sample in samples.demo_samples(args.root):
        print("sample submission:", sample.submit(args.root))
    status = cmd_autograde(argparse.Namespace(root=args.root, student=[s.student for s in samples.demo_samples(args.root)],
                                              workers=args.workers, force=True))
    cmd_feedback(argparse.Namespace(root=args.root, student=None))
    cmd_export(args)
    return status


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="course", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=os.getcwd(), help="the course folder (default: here)")
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="regenerate release/ from source/")
    release.add_argument("--colab-base", help="Colab URL of the published release folder")
    release.add_argument("--placeholder-link", action="store_true", help="generate it with placeholder Colab links")
    release.set_defaults(run=cmd_release)
    gather = commands.add_parser("collect", help="LMS zip -> submitted/")
    gather.add_argument("zip")
    gather.set_defaults(run=cmd_collect)
    grade = commands.add_parser("autograde", help="autograde submissions in parallel")
    grade.add_argument("--student", action="append", help="only this student (repeatable)")
    grade.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel graders (default: one per core)")
    grade.add_argument("--force", action="store_true", help="grade again students already graded")
    grade.set_defaults(run=cmd_autograde)
    feedback = commands.add_parser("feedback", help="HTML feedback per student")
    feedback.add_argument("--student", action="append")
    feedback.set_defaults(run=cmd_feedback)
    commands.add_parser("export", help="grades.csv and per-part plots").set_defaults(run=cmd_export)
    check = commands.add_parser("check-release", help="run the release notebooks as in Colab")
    check.add_argument("--notebook", action="append")
    check.set_defaults(run=cmd_check_release)
    sample = commands.add_parser("samples", help="a sample submission of the instructor's solutions")
    sample.add_argument("--trained", action="store_true", help="run the notebooks as a student does in Colab first")
    sample.add_argument("--colab", action="store_true", help="round-trip the files through Colab's format")
    sample.add_argument("--student", default="reference", help="the sample's student id (default: reference)")
    sample.set_defaults(run=cmd_samples)
    commands.add_parser("rubrics", help="the reference run the TAs' rubrics show").set_defaults(run=cmd_rubrics)
    data = commands.add_parser("data", help="the grading machine's data")
    data.add_argument("action", choices=["fetch"], help="fetch: download CIFAR-10 (once, needs the internet)")
    data.set_defaults(run=cmd_data)
    demo = commands.add_parser("demo", help="release, sample submissions, autograde, feedback, export")
    demo.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    demo.set_defaults(run=cmd_demo)
    args = parser.parse_args(argv)
    args.root = os.path.abspath(args.root)
    os.chdir(args.root)
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
