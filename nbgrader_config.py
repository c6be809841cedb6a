"""The course's nbgrader configuration: plain `nbgrader` commands run from this folder use it.

Autograding is protected: student code runs in a sandboxed kernel and hidden tests are judged
outside it (course.pipeline.execute.GuardedExecute); submissions are normalised against the
gradebook before grading; feedback never shows hidden tests.
"""

import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, ClearMarkScheme, ClearOutput, ClearSolutions,
    ComputeChecksums, GetGrades, IgnorePattern, IncludeHeaderFooter, InstantiateTests, LimitOutput,
    LockCells, OverwriteCells, OverwriteKernelspec, SaveAutoGrades, SaveCells)

from course.dburl import course_db_url
from course.pipeline.flag import FlagForInstructor
from course.pipeline.release import AddColabLink
from course.pipeline.rubrics import AddRubrics, RemoveRubrics
from course.pipeline.sanitize import RestoreCellMetadata, SubmissionExporter
from course.pipeline.submitted import KeepSubmitted
from course.tools.late import LatePolicy

ROOT = os.path.dirname(os.path.abspath(__file__))
c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "dl-hw2"
c.CourseDirectory.root = ROOT
# The gradebook: the SQLite file gradebook.db by default; COURSE_DB_URL names a server (`course db url`).
c.CourseDirectory.db_url = course_db_url(ROOT)
# lms.json: what the LMS download said about a submission (course collect), kept out of autograded/ and feedback/
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*", "lms.json"]

# Release: nbgrader's steps plus an "Open in Colab" badge (set COURSE_COLAB_BASE to the published folder).
c.GenerateAssignment.preprocessors = [
    AddColabLink, IncludeHeaderFooter, InstantiateTests, LockCells, ClearSolutions, ClearOutput, CheckCellMetadata,
    ComputeChecksums, SaveCells, ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata]
if os.environ.get("COURSE_COLAB_BASE"):
    c.AddColabLink.base_url = os.environ["COURSE_COLAB_BASE"]
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Autograding: read whatever was submitted, normalise it against the gradebook, then execute it protected.
c.Autograde.exporter_class = SubmissionExporter
c.OverwriteCells.add_missing_cells = False  # RestoreCellMetadata restores every missing cell, in place
c.Autograde.sanitize_preprocessors = [
    KeepSubmitted, ClearOutput, RestoreCellMetadata, OverwriteKernelspec, OverwriteCells, CheckCellMetadata]
# GuardedExecute by name: nbconvert imports it when autograde starts, so that reading this file (every nbgrader
# and course command does) imports neither the graders nor torch.
c.Autograde.autograde_preprocessors = [
    "course.pipeline.execute.GuardedExecute", AddRubrics, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, FlagForInstructor,
    AssignLatePenalties, CheckCellMetadata]
# Time limits in grading (course.pipeline.budget): the long training cells run in Colab only, so every
# other cell is quick; a hang costs at most its limit, and no notebook holds a worker for long.
c.Execute.timeout = 60  # seconds per student cell; a hang is interrupted there
c.GuardedExecute.notebook_budget = 900  # seconds per notebook; the rest then goes to the instructor
c.GuardedExecute.data_root = os.path.join(ROOT, "data", "grading")
c.GuardedExecute.record_dir = os.path.join(ROOT, "reports", "grading")

# Feedback shows scores and messages, never the hidden tests or the graders' rubrics.
c.GenerateFeedback.preprocessors = [ClearHiddenTests, RemoveRubrics, GetGrades, CSSHTMLHeaderPreprocessor]

# Collecting from an LMS (course collect): the time zone of the LMS's times (Blackboard names, zip entries).
c.LmsFileNames.timezone = "UTC"

# Late work: AssignLatePenalties (in the pipeline above, and again in `course export`/`course report`, on the
# final scores) asks this policy for each late notebook's penalty; lateness counts from timestamp.txt and the
# gradebook's due date, which `course collect` writes from LatePolicy.duedate when set.
c.AssignLatePenalties.plugin_class = LatePolicy
c.LatePolicy.duedate = os.environ.get("COURSE_DUE", "")  # e.g. "2026-11-15 23:59:00 Europe/Berlin"
c.LatePolicy.penalty_per_day = 0.1  # share of the notebook's score lost per started day late
c.LatePolicy.cap = 0.5  # never more than half of it
c.LatePolicy.extensions = ""  # e.g. os.path.join(ROOT, "extensions.csv"): columns student_id,days
