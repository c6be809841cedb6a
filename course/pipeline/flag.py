"""Grader errors go to the instructor, not into the student's score."""

from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor

from course.pipeline.execute import COURSE_RESOURCES


class FlagGraderErrors(NbGraderPreprocessor):
    """After ``SaveAutoGrades``: a test cell whose grader failed (our bug) gets no automatic score and
    is marked as needing manual grading, so the formgrader shows it to the instructor."""

    def preprocess(self, nb, resources):
        failed = resources.get(COURSE_RESOURCES, {}).get("grader_errors", [])
        if not failed:
            return nb, resources
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            for grade_id in failed:
                grade = gradebook.find_grade(grade_id, info["notebook"], info["assignment"], info["student"])
                grade.auto_score = None
                grade.needs_manual_grade = True
            gradebook.db.commit()
        self.log.error("Grader errors in %s of %s (%s): marked for manual grading",
                       info["notebook"], info["student"], ", ".join(failed))
        return nb, resources
