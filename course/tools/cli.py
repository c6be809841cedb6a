"""``course``: the instructor's commands. Run them from the course folder (the one with nbgrader_config.py).

    course release            regenerate release/hw2 from source/hw2 (with Open-in-Colab links)
    course collect ZIP        LMS bulk download (one .ipynb per student) -> submitted/, with times and LMS ids
    course autograde          autograde submissions in parallel (--workers N or --scheduler tcp://HOST:PORT,
                              --student ID ...)
    course feedback           per-student HTML feedback (scores and messages, never hidden tests)
    course export             grades.csv, a figure per notebook; --lms canvas|moodle --roster CSV: the LMS's import file
    course similarity         pairs of submissions with much the same solution code (reports/similarity.html)
    course report             the course report: one self-contained HTML page (reports/course-report.html)
    course check-release      run every release notebook, solutions filled in, as in Colab
    course samples            sample submissions (--trained: run as a student runs them in Colab, weights stored)
    course rubrics            the reference run whose plots the TAs' rubrics show (reports/reference/)
    course data fetch         download CIFAR-10 once into the grading data folder (needs the internet)
    course demo               all of the above on sample submissions, then a score table
    course db start|stop|url  the course's own PostgreSQL gradebook server (export COURSE_DB_URL=$(course db url))
    course dask-env           the Dask settings of a grading cluster, as export lines for `dask scheduler`/`dask worker`
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from nbgrader.api import Gradebook

from course.tools import autograde as autograding
from course.tools.cluster import quiet_environment
from course.data import cifar
from course.pipeline.release import PLACEHOLDER_BASE, is_placeholder
from course.tools import check_release, collect, db, export, late, lms_export, report, rubrics, samples, similarity
from course.tools.nbgrader_cmd import nbgrader
from course.assignment import ASSIGNMENT
from course.dburl import sqlite_path
from course.pipeline.record import read_records
from course.tools.grades import read_class_grades
from course.tools.settings import course_config, db_url, grading_data_root


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
        student = line.split(os.sep)[0]
        lms = collect.read_lms_submission(args.root, student)
        notes = []
        if lms and lms.lms_user_id:
            notes.append(f"LMS id {lms.lms_user_id}")
        if lms and lms.time:
            notes.append(f"submitted {lms.time} ({lms.time_source})")
        if lms and lms.marked_late is not None:
            notes.append("marked late by the LMS" if lms.marked_late else "on time by the LMS")
        print(line + (f"   {', '.join(notes)}" if notes else ""))


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
    """grades.csv and the figures; with --lms, the LMS's import file from its roster."""
    late.apply_penalties(args.root)
    url = db_url(args.root)
    print("grades:", export.write_grades_csv(url, os.path.join(args.root, "grades.csv")))
    for path in export.write_report(url, os.path.join(args.root, "reports")):
        print("figure:", path)
    if not getattr(args, "lms", None):
        return 0
    if not args.roster:
        raise SystemExit(f"--lms {args.lms} needs --roster: the {args.lms} gradebook export "
                         f"({'Grades > Export' if args.lms == 'canvas' else 'Download grading worksheet'}) to fill in.")
    grades = read_class_grades(url)
    out = args.out or os.path.join(args.root, f"grades-{args.lms}.csv")
    try:
        if args.lms == "canvas":
            result = lms_export.canvas_export(args.roster, lms_export.lms_grades(grades), grades.maximum(), out, args.column)
        else:
            result = lms_export.moodle_export(args.roster, lms_export.lms_grades(grades), grades.maximum(), out)
    except (lms_export.RosterError, lms_export.UnmatchedStudents) as error:
        raise SystemExit(str(error)) from None
    print(f"{args.lms}: {result.path} ({result.students} students)")
    for row in result.missing:
        print(f"  no submission, 0 points: {row.name} (LMS id {row.lms_id})")
    for note in result.notes:
        print("  note:", note)
    return 0


def cmd_similarity(args):
    """Similar pairs per notebook, printed and written as an HTML page."""
    settings = similarity.SimilaritySettings(threshold=args.threshold, common_limit=args.common_limit)
    found = similarity.find_similar(args.root, settings)
    for notebook, pairs in found.items():
        print(f"{notebook}: {len(pairs)} pair(s) at or above {settings.threshold:.0%}")
        for pair in pairs:
            print(f"  {pair.left} ~ {pair.right}: {pair.left_share:.0%} / {pair.right_share:.0%} "
                  f"in {', '.join(c.grade_id for c in pair.cells)}")
    path = report.write_page(os.path.join(args.root, "reports", "similarity.html"), "similar submissions",
                             report.similarity(found, settings))
    print("similarity:", path)


def cmd_report(args):
    """The course report page."""
    settings = similarity.SimilaritySettings(threshold=args.threshold, common_limit=args.common_limit)
    path = report.write(report.gather(args.root, settings),
                        args.out or os.path.join(args.root, "reports", "course-report.html"))
    print("report:", path)


def cmd_check_release(args):
    names = args.notebook or samples.available_notebooks(args.root)
    problems = check_release.check_release(args.root, names)
    for problem in problems:
        print("PROBLEM", problem)
    print(f"{len(names)} release notebook(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


DEMO_OUTPUTS = ("gradebook.db", "downloaded", "submitted", "autograded", "feedback", "reports", "grades.csv")


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
    """``course data fetch``: CIFAR-10 into the grading data folder (or ``--folder``, on a worker machine),
    once, through torchvision's download."""
    folder = cifar.fetch(args.folder or grading_data_root(args.root))
    print("CIFAR-10 is in", folder, "- grading evaluates trained models on its test split")


def cmd_demo(args):
    """Release, the sample class as a Canvas download (one student late), collect, autograde, feedback,
    export and the course report."""
    reset_demo(args.root)
    if cmd_release(argparse.Namespace(root=args.root, colab_base=None, placeholder_link=True)):
        return 1
    cmd_rubrics(args)
    class_ = samples.demo_samples(args.root)
    with Gradebook(db_url(args.root)) as gradebook:  # as `nbgrader db assignment add hw2 --duedate=...` would
        gradebook.update_or_create_assignment(ASSIGNMENT, duedate=samples.DEMO_DUE)
    with tempfile.TemporaryDirectory() as scratch:
        download = samples.canvas_download(args.root, class_, os.path.join(scratch, "canvas-submissions.zip"),
                                           samples.demo_times(class_))
        print("sample Canvas download:", download.path)
        cmd_collect(argparse.Namespace(root=args.root, zip=download.path))
    status = cmd_autograde(argparse.Namespace(root=args.root, student=[s.student for s in class_],
                                              workers=args.workers, force=True, scheduler=None))
    cmd_feedback(argparse.Namespace(root=args.root, student=None))
    cmd_export(argparse.Namespace(root=args.root, lms=None))
    cmd_report(argparse.Namespace(root=args.root, out=None, threshold=similarity.SimilaritySettings.threshold,
                                  common_limit=similarity.SimilaritySettings.common_limit))
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


def cmd_dask_env(args):
    """The settings that keep Dask's own work off the grading cores, for a cluster started by hand:
    ``eval "$(course dask-env)"`` before ``dask scheduler`` and ``dask worker``."""
    for name, value in quiet_environment().items():
        print(f"export {name}={value}")
    return 0


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
    grade.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="grading processes on this machine, without --scheduler (default: one per core)")
    grade.add_argument("--force", action="store_true", help="grade again students already graded")
    grade.add_argument("--scheduler", help="grade on the Dask cluster of this scheduler (tcp://HOST:PORT) instead")
    grade.set_defaults(run=cmd_autograde)
    feedback = commands.add_parser("feedback", help="HTML feedback per student")
    feedback.add_argument("--student", action="append")
    feedback.set_defaults(run=cmd_feedback)
    exporting = commands.add_parser("export", help="grades.csv, a figure per notebook, the LMS's import file")
    exporting.add_argument("--lms", choices=lms_export.LMS_NAMES, help="write this LMS's grade import file too")
    exporting.add_argument("--roster", help="the LMS's own export: Canvas gradebook CSV or Moodle grading worksheet")
    exporting.add_argument("--column", help="Canvas assignment column, e.g. 'hw2 (1234)' (default: found in the roster)")
    exporting.add_argument("--out", help="where the LMS file goes (default: grades-<lms>.csv)")
    exporting.set_defaults(run=cmd_export)
    for name, run, what in (("similarity", cmd_similarity, "similar submissions per notebook"),
                            ("report", cmd_report, "the course report (one HTML page)")):
        command = commands.add_parser(name, help=what)
        command.add_argument("--threshold", type=float, default=similarity.SimilaritySettings.threshold,
                             help="list pairs where one student's share of matching code reaches this")
        command.add_argument("--common-limit", type=int, default=similarity.SimilaritySettings.common_limit,
                             help="code shared by more submissions than this is an idiom, not copying")
        if name == "report":
            command.add_argument("--out", help="the page (default: reports/course-report.html)")
        command.set_defaults(run=run)
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
    data.add_argument("--folder", help="where to put it (default: the course's grading data folder; on a worker "
                                       "machine, the folder its COURSE_GRADING_DATA names)")
    data.set_defaults(run=cmd_data)
    demo = commands.add_parser("demo", help="release, sample Canvas download, collect, autograde, feedback, export, report")
    demo.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    demo.set_defaults(run=cmd_demo)
    server = commands.add_parser("db", help="the course's own PostgreSQL gradebook server")
    server.add_argument("action", choices=["start", "stop", "url"])
    server.add_argument("--folder", help=f"the server's folder (default: {db.SERVER_FOLDER}/ in the course)")
    server.add_argument("--port", type=int, help="TCP port of a new server (default: a free one)")
    server.add_argument("--host", default=db.LOOPBACK,
                        help="address a new server listens on and workers reach it at (default: %(default)s)")
    server.set_defaults(run=cmd_db)
    commands.add_parser("dask-env", help="Dask settings for `dask scheduler`/`dask worker`, as export lines"
                        ).set_defaults(run=cmd_dask_env)
    args = parser.parse_args(argv)
    args.root = os.path.abspath(args.root)
    os.chdir(args.root)
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
