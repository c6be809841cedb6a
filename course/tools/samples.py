"""Sample submissions built from the source and the release: for the demo and for the tests.

A submission is a set of notebooks, each made from the release by filling some solution cells with
the instructor's solutions and optionally planting bugs, as a student's file would look.
"""

import datetime
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import nbformat

from course.data import grading as grading_data
from course.tools import colab
from course.tools.student_run import cached_run
from course.assignment import ASSIGNMENT
from course.tools.notebooks import fill, grade_id, notebook_paths, read


@dataclass(frozen=True)
class Bug:
    """A realistic mistake: ``old`` becomes ``new`` in solution cell ``cell`` of ``notebook``; it should
    cost points in part ``part`` and nowhere else."""

    notebook: str
    cell: str
    old: str
    new: str
    part: str
    why: str = ""


def plant(nb, bug: Bug):
    """``nb`` with ``bug`` planted (the text to replace must be there exactly once)."""
    nb = nbformat.from_dict(nb)
    cell = next(c for c in nb.cells if grade_id(c) == bug.cell)
    if cell.source.count(bug.old) != 1:
        raise ValueError(f"{bug.cell}: the text to replace occurs {cell.source.count(bug.old)} times")
    cell.source = cell.source.replace(bug.old, bug.new)
    return nb


@dataclass
class Sample:
    """One student's submission: which solution cells are filled, which bugs are planted, and whether the
    files went through Colab. ``filled`` maps a notebook to the grade ids filled (None: all of them)."""

    student: str
    filled: dict[str, set | None] = field(default_factory=dict)
    bugs: list[Bug] = field(default_factory=list)
    through_colab: bool = False
    only: set | None = None  # submit just these notebooks (default: every notebook of the release)
    trained: bool = False  # run the notebooks top to bottom as in Colab (trained models, outputs) before submitting
    edits_after_run: list[Bug] = field(default_factory=list)  # planted after the run: code changed, outputs kept

    def notebooks(self, root: str) -> dict[str, str]:
        """Notebook name -> file text, for every notebook submitted."""
        texts = {}
        for name in available_notebooks(root):
            if self.only is not None and name not in self.only:
                continue
            release = read(notebook_paths(root, "release", name))
            nb = fill(release, read(notebook_paths(root, "source", name)), self.filled[name]) \
                if name in self.filled else release
            for bug in self.bugs:
                if bug.notebook == name and name in self.filled:
                    nb = plant(nb, bug)
            if self.trained:
                nb = trained(nb, name, root)
            for bug in self.edits_after_run:
                if bug.notebook == name:
                    nb = plant(nb, bug)
            texts[name] = colab.roundtrip(nb, f"{name}.ipynb") if self.through_colab else nbformat.writes(nb)
        return texts

    def submit(self, root: str) -> str:
        """Write the submission into ``submitted/<student>/hw2/``; returns that folder."""
        folder = os.path.join(root, "submitted", self.student, ASSIGNMENT)
        os.makedirs(folder, exist_ok=True)
        for name, text in self.notebooks(root).items():
            with open(os.path.join(folder, f"{name}.ipynb"), "w", encoding="utf-8") as f:
                f.write(text)
        return folder


SIDE_BY_SIDE = 8  # samples made at once: their student runs train side by side (each kernel on one thread)


def submit_all(root: str, samples: list[Sample]) -> list[str]:
    """Write every sample's submission (see :meth:`Sample.submit`), several at once: student runs of different
    notebooks train side by side, and a run that several samples share is made once. Returns the folders."""
    with ThreadPoolExecutor(min(SIDE_BY_SIDE, max(len(samples), 1))) as pool:
        return list(pool.map(lambda sample: sample.submit(root), samples))


# On the generated stand-in (2,000 training images, not CIFAR-10's 50,000) a student would tune CONFIG down
# as the notebook invites: three short epochs reach the stand-in's top tier in well under a minute on a CPU.
STANDIN_TUNING = {"hw2_cnn": [("CONFIG = TrainConfig()  # tune it here",
                               "CONFIG = TrainConfig(epochs=3, batch_size=64, validation_size=200, workers=0)  # tuned for the stand-in")]}


def trained(nb, name: str, root: str):
    """``nb`` (notebook ``name`` of the course in ``root``) as the student's own run in Colab left it:
    executed top to bottom on the grading machine's data (CIFAR-10, else the stand-in, with CONFIG tuned
    for it), outputs and stored weights included. Runs are cached (``$COURSE_TRAINED_CACHE``, else
    ``root/.cache/trained``) by the notebook's content and the data."""
    data_root = os.path.join(root, "data", "grading")
    if grading_data.dataset_version(data_root) != "cifar-10":
        nb = nbformat.from_dict(nb)
        for old, new in STANDIN_TUNING.get(name, []):
            for cell in nb.cells:
                cell.source = cell.source.replace(old, new)
    cache = os.environ.get("COURSE_TRAINED_CACHE") or os.path.join(root, ".cache", "trained")
    return cached_run(nb, data_root, root, cache)


def available_notebooks(root: str) -> list[str]:
    folder = os.path.join(root, "release", ASSIGNMENT)
    return sorted(name[:-6] for name in os.listdir(folder) if name.endswith(".ipynb"))


def everything(root: str) -> dict[str, None]:
    return {name: None for name in available_notebooks(root)}


# Mistakes students really make; the demo plants them, the tests plant these and more.
DEMO_BUGS = [
    Bug("hw2_cnn", "conv2d_forward", "p * dh: p * dh + sh * (out_h - 1) + 1: sh", "p: p + sh * (out_h - 1) + 1: sh",
        "hw2_cnn.conv2d_forward", "ignores dilation along the height"),
    Bug("hw2_cnn", "training_helpers", "    optimizer.zero_grad()\n", "",
        "hw2_cnn.step", "never clears the gradients"),
    Bug("seq_classification", "initial_values", "math.log(len(CLASSES))", "math.log2(len(CLASSES))",
        "seq_classification.initial_values", "gives the initial loss in bits"),
]


def demo_samples(root: str) -> list[Sample]:
    """The demo's class: complete and trained (as a student's Colab run leaves it), untouched, partial (not
    run), buggy (code changed after the run), and complete through Colab."""
    partial = {"hw2_cnn": {"conv_output_size", "conv_layer_cost", "answers_output_size", "conv2d_forward",
                           "worked_c", "pooling"}}
    return [
        Sample("complete", everything(root), trained=True),
        Sample("untouched"),
        Sample("partial", partial),
        Sample("buggy", everything(root), trained=True, edits_after_run=DEMO_BUGS),
        Sample("colab", everything(root), trained=True, through_colab=True),
    ]


DEMO_DUE = datetime.datetime(2026, 11, 15, 23, 59)  # the demo's due date (UTC, the demo LMS's time zone)


@dataclass(frozen=True)
class Handed:
    """When a sample was handed in (the LMS's local time) and whether the LMS marks it late."""

    at: datetime.datetime
    late: bool = False


@dataclass(frozen=True)
class CanvasDownload:
    """A Canvas "Download Submissions" zip made from samples, and the Canvas user id of each student."""

    path: str
    user_ids: dict[str, str]


def canvas_name(student: str, user_id: str, attachment_id: int, notebook: str, late: bool) -> str:
    """A file name as Canvas writes it into its download: ``<name>[_late]_<user id>_<attachment id>_<file>``."""
    return "_".join([student.replace("_", ""), *(["late"] if late else []), user_id, str(attachment_id), f"{notebook}.ipynb"])


def canvas_download(root: str, samples: list[Sample], path: str, handed: dict[str, Handed],
                    first_user_id: int = 1001) -> CanvasDownload:
    """Write the samples as Canvas's bulk download would hold them: one file per notebook, named the Canvas
    way, the zip entry's time the submission time (Canvas's own zips carry the download's time instead)."""
    user_ids = {sample.student: str(first_user_id + i) for i, sample in enumerate(samples)}
    with zipfile.ZipFile(path, "w") as z:
        for i, sample in enumerate(samples):
            when = handed[sample.student]
            for j, (notebook, text) in enumerate(sample.notebooks(root).items()):
                name = canvas_name(sample.student, user_ids[sample.student], 5000 + 10 * i + j, notebook, when.late)
                z.writestr(zipfile.ZipInfo(name, when.at.timetuple()[:6]), text)
    return CanvasDownload(path, user_ids)


def demo_times(samples: list[Sample]) -> dict[str, Handed]:
    """The demo class hands in two hours before the due date, except ``partial``: 20 hours late."""
    return {s.student: Handed(DEMO_DUE + datetime.timedelta(hours=20), late=True) if s.student == "partial"
            else Handed(DEMO_DUE - datetime.timedelta(hours=2)) for s in samples}
