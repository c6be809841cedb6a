"""``course``: the instructor's commands. Run them from the course folder (the one with nbgrader_config.py).

    course release            regenerate release/hw2 from source/hw2 (with Open-in-Colab links)
    course collect ZIP        LMS bulk download (one .ipynb per student) -> submitted/
    course autograde          autograde submissions in parallel (--workers N or --scheduler tcp://HOST:PORT,
                              --student ID ...)
    course feedback           per-student HTML feedback (scores and messages, never hidden tests)
    course export             grades.csv for the LMS and per-part score plots in reports/
    course check-release      run every release notebook, solutions filled in, as in Colab
    course demo               all of the above on sample submissions, then a score table
    course db start|stop|url  the course's own PostgreSQL gradebook server (export COURSE_DB_URL=$(course db url))
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from nbgrader.api import Gradebook

from course.tools import autograde as autograding
from course.tools import check_release, collect, db, export, samples
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
    """The gradebook URL of the course in ``root``, as its nbgrader configuration names it."""
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


def cmd_release(args):
    """Regenerate the release; when nbgrader refuses (the gradebook already holds submissions and the
    source gained or lost notebooks or graded cells), the previous release is put back untouched."""
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
    outcomes = autograding.autograde(args.root, students, db_url(args.root), workers=args.workers, force=args.force,
                                     scheduler=args.scheduler)
    print(score_table(outcomes))
    failed = [o for o in outcomes if not o.ok]
    skipped = sum(o.skipped for o in outcomes)
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} graded"
          + (f" ({skipped} already graded before)" if skipped else "") + ", "
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


def cmd_demo(args):
    reset_demo(args.root)
    if cmd_release(argparse.Namespace(root=args.root, colab_base=None)):
        return 1
    for sample in samples.demo_samples(args.root):
        print("sample submission:", sample.submit(args.root))
    status = cmd_autograde(argparse.Namespace(root=args.root, student=[s.student for s in samples.demo_samples(args.root)],
                                              workers=args.workers, force=True, scheduler=None))
    cmd_feedback(argparse.Namespace(root=args.root, student=None))
    cmd_export(args)
    return status


def cmd_db(args):
    folder = args.folder or db.server_folder(args.root)
    try:
        if args.action == "start":
            server = db.start(folder, port=args.port, host=args.host)
            print(f"Gradebook server running in {folder} on {server.host}:{server.port}. Use it with:\n"
                  f"    export COURSE_DB_URL='{server.url}'\n"
                  "then `course release` (or `nbgrader generate_assignment hw2`) to put the assignment into it.")
        elif args.action == "stop":
            print("Gradebook server stopped." if db.stop(folder) else "The gradebook server was not running.")
        else:
            print(db.load(folder).url)
    except db.ServerError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="course", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=os.getcwd(), help="the course folder (default: here)")
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="regenerate release/ from source/")
    release.add_argument("--colab-base", help="Colab URL of the published release folder")
    release.set_defaults(run=cmd_release)
    gather = commands.add_parser("collect", help="LMS zip -> submitted/")
    gather.add_argument("zip")
    gather.set_defaults(run=cmd_collect)
    grade = commands.add_parser("autograde", help="autograde submissions in parallel")
    grade.add_argument("--student", action="append", help="only this student (repeatable)")
    grade.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="grading processes on this machine, without --scheduler (default: one per core)")
    grade.add_argument("--force", action="store_true", help="grade again students already graded")
    grade.add_argument("--scheduler", help="grade on the Dask cluster of this scheduler (tcp://HOST:PORT) instead")
    grade.set_defaults(run=cmd_autograde)
    feedback = commands.add_parser("feedback", help="HTML feedback per student")
    feedback.add_argument("--student", action="append")
    feedback.set_defaults(run=cmd_feedback)
    commands.add_parser("export", help="grades.csv and per-part plots").set_defaults(run=cmd_export)
    check = commands.add_parser("check-release", help="run the release notebooks as in Colab")
    check.add_argument("--notebook", action="append")
    check.set_defaults(run=cmd_check_release)
    demo = commands.add_parser("demo", help="release, sample submissions, autograde, feedback, export")
    demo.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    demo.set_defaults(run=cmd_demo)
    server = commands.add_parser("db", help="the course's own PostgreSQL gradebook server")
    server.add_argument("action", choices=["start", "stop", "url"])
    server.add_argument("--folder", help=f"the server's folder (default: {db.SERVER_FOLDER}/ in the course)")
    server.add_argument("--port", type=int, help="TCP port of a new server (default: a free one)")
    server.add_argument("--host", default=db.LOOPBACK,
                        help="address a new server listens on and workers reach it at (default: %(default)s)")
    server.set_defaults(run=cmd_db)
    args = parser.parse_args(argv)
    args.root = os.path.abspath(args.root)
    os.chdir(args.root)
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
