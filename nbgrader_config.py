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
from course.pipeline.execute import GuardedExecute
from course.pipeline.flag import FlagGraderErrors
from course.pipeline.release import AddColabLink
from course.pipeline.sanitize import RestoreCellMetadata, SubmissionExporter

ROOT = os.path.dirname(os.path.abspath(__file__))
c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "dl-hw2"
c.CourseDirectory.root = ROOT
# The gradebook: the SQLite file gradebook.db by default; COURSE_DB_URL names a server (`course db url`).
c.CourseDirectory.db_url = course_db_url(ROOT)
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

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
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    ClearOutput, RestoreCellMetadata, OverwriteKernelspec, OverwriteCells, CheckCellMetadata]
c.Autograde.autograde_preprocessors = [
    GuardedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, FlagGraderErrors,
    AssignLatePenalties, CheckCellMetadata]
c.Execute.timeout = 600  # seconds per student cell (training cells included); a hang is interrupted there
c.GuardedExecute.data_root = os.path.join(ROOT, "data", "grading")
c.GuardedExecute.record_dir = os.path.join(ROOT, "reports", "grading")

# Feedback shows scores and messages, never the hidden tests.
c.GenerateFeedback.preprocessors = [ClearHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]
