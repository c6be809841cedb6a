"""Is a task that keeps failing on the cluster reported with its log, while the run goes on?"""

from course.tools import bundle
from course.tools.autograde import autograde
from course.tools.cli import course_config
from course.tools.samples import Sample


def test_is_a_task_that_keeps_failing_reported_with_its_log(scratch_course, monkeypatch):
    for student in ("ann", "ben"):
        Sample(student, only={"hw2_cnn"}).submit(str(scratch_course))
    # The workers run this commit's graders; the bundle claims others: every try of every task fails at once.
    monkeypatch.setattr(bundle, "package_fingerprint", lambda: "another-commit")
    url = course_config(str(scratch_course)).CourseDirectory.db_url
    outcomes = autograde(str(scratch_course), ["ann", "ben"], url, workers=2, force=True, progress=False)
    assert [(o.student, o.ok, o.status) for o in outcomes] == [("ann", False, "FAILED (see log)"),
                                                                ("ben", False, "FAILED (see log)")]
    for outcome in outcomes:
        log = open(outcome.log).read()
        assert "runs another version of the course package" in log and "install the same commit" in log
    assert not (scratch_course / "autograded").exists()
