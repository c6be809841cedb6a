"""Gradebooks that travel: a template with the assignment's structure for a grader on another machine, and
the merge of one student's grades from a grader's private gradebook into the course's, in one transaction.

A grader grades a student into a private SQLite copy of the template; the merge then writes that student
into the course's gradebook (SQLite or a PostgreSQL server) all at once, so a grader that dies at any point
leaves either all of a student's grades or none, and merging a student again updates rows instead of adding.
"""

import datetime
import os
import warnings
from contextlib import contextmanager

from nbgrader.api import (Assignment, Base, BaseCell, Comment, Course, Grade, GradeCell, Gradebook, MissingEntry,
                          Notebook, SolutionCell, SourceCell, Student, SubmittedAssignment, SubmittedNotebook, TaskCell)
from sqlalchemy import MetaData, create_engine, insert, select, text
from sqlalchemy.exc import SAWarning

from course.dburl import sqlite_url

# The assignments' structure, parents first (no student, submission, grade or comment).
STRUCTURE = (Course, Assignment, Notebook, BaseCell, GradeCell, SolutionCell, TaskCell, SourceCell)
SCHEMA_VERSION_TABLE = "alembic_version"  # nbgrader's schema version (its migrations are alembic's)


@contextmanager
def engine_of(db_url: str):
    """An SQLAlchemy engine for ``db_url``, disposed of (its connections closed) at the end."""
    engine = create_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def write_template(db_url: str, path: str) -> str:
    """Write to the new SQLite file ``path`` the structure of the gradebook at ``db_url``: its course,
    assignments, notebooks and cells (with the sources and checksums of locked cells), and no student.
    Returns the template's URL: nbgrader grades into a copy of it as into the course's gradebook."""
    if os.path.exists(path):
        raise FileExistsError(f"{path}: a gradebook template is written into a new file")
    with engine_of(db_url) as source, engine_of(sqlite_url(path)) as target:
        version = MetaData()
        version.reflect(source, only=[SCHEMA_VERSION_TABLE])
        Base.metadata.create_all(target)
        version.create_all(target)
        tables = [version.tables[SCHEMA_VERSION_TABLE], *(kind.__table__ for kind in STRUCTURE)]
        with source.connect() as read, target.begin() as write:
            for table in tables:
                rows = [dict(row._mapping) for row in read.execute(select(table))]
                if rows:
                    write.execute(insert(table), rows)
    return sqlite_url(path)


@contextmanager
def quiet_autoflush():
    """Silence SQLAlchemy's warnings about nbgrader's autoflush on new submissions (harmless chatter)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        yield


def lock_student(session, assignment: str, student: str) -> None:
    """On a PostgreSQL server, hold a lock on this student's submission until the transaction ends, so two
    graders merging the same student (a retried task beside a worker thought lost) take turns."""
    if session.bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                        {"key": f"{assignment}/{student}"})


def submission_of(gradebook: Gradebook, assignment: str, student: str) -> SubmittedAssignment:
    """The student's submission in ``gradebook``, created (with every notebook, grade and comment, as
    nbgrader's ``add_submission`` makes it) if missing; nothing is committed."""
    session = gradebook.db
    try:
        return gradebook.find_submission(assignment, student)
    except MissingEntry:
        pass
    try:
        person = gradebook.find_student(student)
    except MissingEntry:
        person = Student(id=student)
        session.add(person)
    submission = SubmittedAssignment(assignment=gradebook.find_assignment(assignment), student=person)
    for notebook in submission.assignment.notebooks:
        submitted = SubmittedNotebook(notebook=notebook, assignment=submission)
        for cell in notebook.grade_cells:
            Grade(cell_id=cell.id, notebook=submitted)
        for cell in notebook.solution_cells:
            Comment(cell_id=cell.id, notebook=submitted)
        for cell in notebook.task_cells:
            Comment(cell_id=cell.id, notebook=submitted)
            Grade(cell_id=cell.id, notebook=submitted)
    session.add(submission)
    session.flush()
    return submission


def extensions(db_url: str, assignment: str) -> dict[str, datetime.timedelta]:
    """The extensions granted on ``assignment`` in the gradebook at ``db_url``, by student (nbgrader's late
    penalties count from the due date plus the student's extension)."""
    with Gradebook(db_url) as gradebook:
        try:
            submissions = gradebook.find_assignment(assignment).submissions
        except MissingEntry:
            return {}
        return {s.student_id: s.extension for s in submissions if s.extension is not None}


def grant(db_url: str, assignment: str, student: str, extension: datetime.timedelta) -> None:
    """Give ``student`` ``extension`` on ``assignment`` in the gradebook at ``db_url`` (made if missing)."""
    with quiet_autoflush(), Gradebook(db_url) as gradebook:
        gradebook.update_or_create_student(student)
        gradebook.update_or_create_submission(assignment, student, extension=extension)


def merge_student(source_url: str, target_url: str, assignment: str, student: str) -> None:
    """Copy one student's submission (timestamp, automatic scores, flags, late penalties, automatic comments)
    from the gradebook at ``source_url`` into the one at ``target_url``, in one transaction. Manual scores
    and comments already in the target are kept (and, as nbgrader's ``SaveAutoGrades`` does, a grade with a
    manual score stays marked for manual grading)."""
    with quiet_autoflush(), Gradebook(source_url) as source, Gradebook(target_url) as target:
        session = target.db
        try:
            lock_student(session, assignment, student)
            submitted = source.find_submission(assignment, student)
            into = submission_of(target, assignment, student)
            into.timestamp = submitted.timestamp
            notebooks = {notebook.name: notebook for notebook in into.notebooks}
            for notebook in submitted.notebooks:
                copy = notebooks[notebook.name]
                copy.flagged = notebook.flagged
                copy.late_submission_penalty = notebook.late_submission_penalty
                grades = {grade.name: grade for grade in copy.grades}
                for grade in notebook.grades:
                    grades[grade.name].auto_score = grade.auto_score
                    grades[grade.name].needs_manual_grade = (grade.needs_manual_grade
                                                             or grades[grade.name].manual_score is not None)
                comments = {comment.name: comment for comment in copy.comments}
                for comment in notebook.comments:
                    comments[comment.name].auto_comment = comment.auto_comment
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            target.engine.dispose()
            source.engine.dispose()
