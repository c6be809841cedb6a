"""Collecting an LMS bulk download into nbgrader's ``submitted/<student>/hw2/`` layout.

The LMS zip goes to ``downloaded/hw2/archive/``; nbgrader's ``zip_collect`` extracts it and asks
:class:`LmsFileNames` which student and which notebook each file is, and when it was submitted.
What the LMS said about each file is kept, not dropped:

* the time: from the name where the LMS puts it there (Blackboard), otherwise the zip entry's time,
  read in ``LmsFileNames.timezone``. nbgrader writes the newest one to
  ``submitted/<student>/hw2/timestamp.txt``, and the late policy (course.tools.late) counts from it;
* the LMS's own late marker (Canvas puts ``late`` into the name of a late file). Canvas builds its
  zip when asked, so its zip entry times are the download's, not the submission's: a file Canvas
  marks on time is on time (no timestamp goes to nbgrader), a file it marks late counts as late
  from its zip time, an upper bound that the report shows as such;
* the LMS's id of the student (Canvas user id, Moodle participant id), saved in the gradebook as
  nbgrader's ``Student.lms_user_id``, so grades go back to the right row of the LMS's gradebook.

Everything found per student is written to ``submitted/<student>/hw2/lms.json`` (a
:class:`LmsSubmission`), beside nbgrader's ``timestamp.txt``.
"""

import dataclasses
import datetime
import json
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from nbgrader.api import Gradebook
from nbgrader.apps.zipcollectapp import ZipCollectApp
from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import Unicode

from course.assignment import ASSIGNMENT
from course.tools import late
from course.tools.nbgrader_cmd import nbgrader
from course.tools.settings import course_config

LMS_RECORD = "lms.json"  # per student, beside nbgrader's timestamp.txt (kept out of autograded/ by CourseDirectory.ignore)
MANIFEST = "lms-files.jsonl"  # what the collector saw, one file a line, in downloaded/<assignment>/
BLACKBOARD_TIME = "%Y-%m-%d-%H-%M-%S"

# How common LMSs name the files of a bulk download (the student id is the LMS login or name).
LMS_PATTERNS = {
    # Canvas: smithjohn_12345_6789012_hw2_cnn.ipynb, smithjohn_late_12345_6789012_hw2_cnn-1.ipynb
    # (<sortable name>[_late]_<user id>_<attachment id>_<file name>; Canvas lower-cases the name part)
    "canvas": re.compile(r"^(?P<student_id>[A-Za-z0-9.\-]+)_(?P<late>late_)?(?P<lms_user_id>\d+)_\d+_"
                         r"(?P<file_id>.+?)(?:-\d+)?\.ipynb$", re.I),
    # Moodle: John Smith_12345_assignsubmission_file_hw2_cnn.ipynb (<full name>_<participant id>_...)
    "moodle": re.compile(r"^(?P<student_id>.+?)_(?P<lms_user_id>\d+)_assignsubmission_file_(?P<file_id>.+)\.ipynb$"),
    # Blackboard: hw2_jsmith_attempt_2026-11-01-10-00-00_hw2_cnn.ipynb
    "blackboard": re.compile(r"^.+?_(?P<student_id>[A-Za-z0-9.\-]+)_attempt_(?P<timestamp>[0-9\-]+)_(?P<file_id>.+)\.ipynb$"),
    # Anything else: <student>/<notebook>.ipynb inside the zip
    "folders": re.compile(r"^(?P<student_id>[^/]+)/(?P<file_id>[^/]+)\.ipynb$"),
}
LATE_MARKERS = {"canvas"}  # LMSs whose names say whether a file was late (absent there: on time)


@dataclass
class LmsFile:
    """One file of an LMS bulk download, as its name and the zip describe it."""

    name: str  # the file's name in the download
    lms: str  # a key of LMS_PATTERNS
    student: str  # the student id used in submitted/ and the gradebook
    notebook: str  # the notebook file it becomes, e.g. hw2_cnn.ipynb
    lms_user_id: str | None = None  # Canvas user id or Moodle participant id
    time: str | None = None  # when it was submitted, ISO 8601 in UTC, as far as the download tells
    time_source: str = ""  # "name" or "zip entry" ("" when there is no time)
    marked_late: bool | None = None  # the LMS's own late marker; None for an LMS without one

    @property
    def counted_time(self) -> str | None:
        """The time the late policy counts from: none for a file the LMS itself marks on time."""
        return None if self.marked_late is False else self.time


@dataclass
class LmsSubmission:
    """Everything the LMS download said about one student's submission."""

    student: str
    files: list[LmsFile] = field(default_factory=list)

    @property
    def lms_user_id(self) -> str | None:
        return next((f.lms_user_id for f in self.files if f.lms_user_id), None)

    @property
    def marked_late(self) -> bool | None:
        """True when the LMS marks any file late, False when it marks all on time, None when it cannot say."""
        marks = [f.marked_late for f in self.files if f.marked_late is not None]
        return any(marks) if marks else None

    @property
    def time(self) -> str | None:
        """The newest counted time of its files (nbgrader keeps the newest too)."""
        times = [f.counted_time for f in self.files if f.counted_time]
        return max(times) if times else None

    @property
    def time_source(self) -> str:
        return next((f.time_source for f in self.files if f.counted_time == self.time), "")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "LmsSubmission":
        data = json.loads(text)
        return cls(data["student"], [LmsFile(**f) for f in data["files"]])


def _slug(student: str) -> str:
    """A student id usable as a folder name (Moodle uses full names)."""
    return re.sub(r"[^A-Za-z0-9.\-]+", "_", student.strip()).strip("_").lower()


def _utc(moment: datetime.datetime, timezone: str) -> str:
    """A naive local ``moment`` of ``timezone`` as ISO 8601 in UTC."""
    return moment.replace(tzinfo=ZoneInfo(timezone)).astimezone(datetime.timezone.utc).isoformat()


def parse_lms_name(path: str, timezone: str = "UTC") -> LmsFile | None:
    """What an LMS file name says: student, notebook, LMS id, late marker, time (Blackboard).

    Args:
        path: the file's path in the download; its parent folder counts for ``<student>/<notebook>``.
        timezone: the LMS's time zone (the times in Blackboard names are local).

    Returns:
        None when the name matches no known LMS.
    """
    name = os.path.basename(path)
    parent = os.path.basename(os.path.dirname(path))
    for lms, pattern in LMS_PATTERNS.items():
        match = pattern.match(name) or pattern.match(f"{parent}/{name}")
        if match:
            found = match.groupdict()
            file = LmsFile(name, lms, _slug(found["student_id"]), found["file_id"] + ".ipynb",
                           lms_user_id=found.get("lms_user_id"),
                           marked_late=bool(found.get("late")) if lms in LATE_MARKERS else None)
            if found.get("timestamp"):
                stamp = datetime.datetime.strptime(found["timestamp"], BLACKBOARD_TIME)
                file.time, file.time_source = _utc(stamp, timezone), "name"
            return file
    return None


class LmsFileNames(FileNameCollectorPlugin):
    """Recognise Canvas, Moodle and Blackboard bulk-download names, and ``<student>/<notebook>.ipynb``;
    give nbgrader each file's submission time and note what the LMS said in the download's manifest."""

    timezone = Unicode("UTC", help="Time zone of the LMS's times: Blackboard file names, zip entries.").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._zip_times: dict[str, dict[str, tuple]] = {}
        self._manifest_started = False

    def collect(self, submitted_file: str):
        if os.path.splitext(submitted_file)[1] not in self.valid_ext:
            return None
        file = parse_lms_name(submitted_file, self.timezone)
        if file is None:
            self.log.warning("Skipping %s: its name matches no known LMS pattern", submitted_file)
            return None
        if file.time is None:
            entry = self._zip_entry_time(submitted_file)
            if entry is not None:
                file.time, file.time_source = _utc(datetime.datetime(*entry), self.timezone), "zip entry"
        self._note(file)
        found = {"student_id": file.student, "file_id": file.notebook}
        if file.counted_time:
            found["timestamp"] = file.counted_time
        return found

    # nbgrader extracts <archive>/<name>.zip to <extracted>/<name>/<entry>: read the entry's time there.
    def _zip_entry_time(self, extracted_file: str) -> tuple | None:
        if not isinstance(self.parent, ZipCollectApp):
            return None
        extracted = _collect_path(self.parent, self.parent.extracted_directory)
        parts = os.path.relpath(extracted_file, extracted).split(os.sep)
        archive = os.path.join(_collect_path(self.parent, self.parent.archive_directory), *parts[:-1]) + ".zip"
        if len(parts) < 2 or not os.path.isfile(archive):
            return None
        if archive not in self._zip_times:
            with zipfile.ZipFile(archive) as z:
                self._zip_times[archive] = {info.filename: info.date_time for info in z.infolist()}
        return self._zip_times[archive].get(parts[-1])

    def _note(self, file: LmsFile) -> None:
        if not isinstance(self.parent, ZipCollectApp):
            return
        path = _collect_path(self.parent, MANIFEST)
        with open(path, "a" if self._manifest_started else "w") as manifest:
            manifest.write(json.dumps(dataclasses.asdict(file)) + "\n")
        self._manifest_started = True


def _collect_path(app: ZipCollectApp, step: str) -> str:
    """Where ``zip_collect`` keeps a collect step (``downloaded/<assignment>/<step>`` by default)."""
    return os.path.join(app.coursedir.root, app.collect_directory_structure).format(
        downloaded=app.downloaded_directory, assignment_id=app.coursedir.assignment_id, collect_step=step)


def read_lms_submission(root: str, student: str) -> LmsSubmission | None:
    """What the LMS download said about ``student`` (None when the submission did not come from one)."""
    path = os.path.join(root, "submitted", student, ASSIGNMENT, LMS_RECORD)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return LmsSubmission.from_json(f.read())


def _record_submissions(root: str, manifest: str) -> list[LmsSubmission]:
    """Group the collector's manifest by student, write each ``lms.json``, keep the LMS ids in the gradebook."""
    submissions: dict[str, LmsSubmission] = {}
    with open(manifest) as f:
        for line in f:
            file = LmsFile(**json.loads(line))
            submissions.setdefault(file.student, LmsSubmission(file.student)).files.append(file)
    for submission in submissions.values():
        folder = os.path.join(root, "submitted", submission.student, ASSIGNMENT)
        if os.path.isdir(folder):
            with open(os.path.join(folder, LMS_RECORD), "w") as f:
                f.write(submission.to_json())
    with Gradebook(course_config(root).CourseDirectory.db_url) as gradebook:
        for submission in submissions.values():
            if submission.lms_user_id:
                gradebook.update_or_create_student(submission.student, lms_user_id=submission.lms_user_id)
    return sorted(submissions.values(), key=lambda s: s.student)


def collect(root: str, zip_path: str) -> list[str]:
    """Place the LMS zip where nbgrader expects it, run ``nbgrader zip_collect``, keep what the LMS said
    (``lms.json``, LMS ids in the gradebook), write the policy's due date into the gradebook, and list
    the collected notebooks."""
    archive = os.path.join(root, "downloaded", ASSIGNMENT, "archive")
    os.makedirs(archive, exist_ok=True)
    shutil.copy(zip_path, archive)
    manifest = os.path.join(root, "downloaded", ASSIGNMENT, MANIFEST)
    if os.path.exists(manifest):
        os.remove(manifest)
    nbgrader(["zip_collect", ASSIGNMENT, "--force", "--ZipCollectApp.collector_plugin=course.tools.collect.LmsFileNames"], root)
    if os.path.exists(manifest):
        _record_submissions(root, manifest)
    late.write_due_date(root)
    submitted = os.path.join(root, "submitted")
    return [os.path.join(student, ASSIGNMENT, name) for student in sorted(os.listdir(submitted))
            for name in sorted(os.listdir(os.path.join(submitted, student, ASSIGNMENT)))
            if name.endswith(".ipynb")]
