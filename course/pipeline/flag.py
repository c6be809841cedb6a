"""What the autograder could not grade goes to the instructor, not into the student's score."""

from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor

from course.pipeline.record import COURSE_RESOURCES


class FlagForInstructor(NbGraderPreprocessor):
    """After ``SaveAutoGrades``: test cells the autograder could not grade are marked as needing manual
    grading, so the formgrader shows them to the instructor.

    * a grader error (our bug) keeps no automatic score: the student's score must not be ours;
    * a cell left ungraded because the notebook's time ran out (or its kernel gave up) keeps the points
      its graded parts earned, and waits for a person for the rest.
    """

    def preprocess(self, nb, resources):
        report = resources.get(COURSE_RESOURCES, {})
        failed, ungraded = report.get("grader_errors", []), report.get("not_graded", [])
        if not failed and not ungraded:
            return nb, resources
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            for grade_id in [*failed, *ungraded]:
                grade = gradebook.find_grade(grade_id, info["notebook"], info["assignment"], info["student"])
                if grade_id in failed:
                    grade.auto_score = None
                grade.needs_manual_grade = True
            gradebook.db.commit()
        self.log.error("%s of %s: %s marked for manual grading", info["notebook"], info["student"],
                       ", ".join([*(f"{g} (grader error)" for g in failed), *(f"{g} (not graded in time)" for g in ungraded)]))
        return nb, resources
