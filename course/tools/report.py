"""The course report: one self-contained HTML page for the instructor and the TAs.

Sections (each a ``<section id=...>``): the score distributions (autograded, manual and extra credit
apart, per notebook and for the total), every graded part (mean, full marks, the most frequent failed
checks with the message students read, parts that nearly everyone or nobody fails marked), the item
analysis, grading operations (time, kernel restarts, grader errors, unreadable files, manual grading
progress), late work and the similarity of submissions. Pictures are inline PNGs; there is no script,
no stylesheet or font to fetch: the page opens offline and can be mailed around.
"""

import base64
import datetime
import html
import os
import statistics
from dataclasses import dataclass

from course.assignment import ASSIGNMENT
from course.pipeline.record import GradingRecord, read_records
from course.tools import figures, late, stats
from course.tools.autograde import grading_records
from course.tools.collect import read_lms_submission
from course.tools.grades import AUTOGRADED, EXTRA_CREDIT, MANUAL, ClassGrades, read_class_grades
from course.tools.settings import course_config
from course.tools.similarity import SimilarityPairs, SimilaritySettings, find_similar

SECTIONS = {  # id -> heading, in page order
    "distributions": "Score distributions",
    "parts": "Graded parts",
    "item-analysis": "Item analysis",
    "operations": "Grading operations",
    "late-work": "Late work",
    "similarity": "Similar submissions",
}
SLOWEST = 10  # submissions listed by grading time

STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #1565c0; padding-bottom: 0.2em; margin-top: 2em; }
nav a { margin-right: 1em; } table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #eef3fb; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.flag { color: #c62828; font-weight: bold; } .note { color: #555; font-size: 0.9em; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
.bar { background: #eee; width: 12em; height: 0.9em; display: inline-block; vertical-align: middle; }
.bar span { background: #2e7d32; height: 100%; display: block; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 0.5em; }
.side pre { background: #f7f7f7; padding: 0.5em; overflow-x: auto; font-size: 0.8em; margin: 0; }
mark.copied { background: #ffe082; } details { margin: 0.4em 0; } summary { cursor: pointer; }
ul.checks { margin: 0; padding-left: 1.2em; } ul.checks li { margin-bottom: 0.2em; }
"""


@dataclass
class ReportInputs:
    """Everything the report shows, gathered from the course folder."""

    root: str
    grades: ClassGrades
    records: list[GradingRecord]
    policy: late.LatePolicy
    similar: SimilarityPairs
    similarity: SimilaritySettings


def gather(root: str, similarity: SimilaritySettings = SimilaritySettings()) -> ReportInputs:
    """Refresh the late penalties (nbgrader's step on the final scores) and read the gradebook, the
    grading records and the submissions of the course in ``root``."""
    late.apply_penalties(root)
    config = course_config(root)
    record_dir = grading_records(root)
    folder = os.path.join(record_dir, ASSIGNMENT)
    students = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    records = [r for s in students for r in read_records(record_dir, ASSIGNMENT, s)]
    return ReportInputs(root, read_class_grades(config.CourseDirectory.db_url), records, late.policy(config),
                        find_similar(root, similarity), similarity)


def write(inputs: ReportInputs, path: str) -> str:
    """Write the report page to ``path``; returns it."""
    return write_page(path, "course report", body(inputs))


def write_page(path: str, title: str, content: str) -> str:
    """Write a self-contained page of the report's look to ``path``; returns it."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(document(title, content))
    return path


def document(title: str, content: str) -> str:
    """A complete HTML page: inline style, no script, nothing fetched (the empty icon stops a favicon request)."""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{ASSIGNMENT}: {esc(title)}</title>'
            f'<link rel="icon" href="data:,"><style>{STYLE}</style></head><body>'
            f"<h1>{ASSIGNMENT}: {esc(title)}</h1>{content}</body></html>")


def body(inputs: ReportInputs) -> str:
    """The report: a summary, a table of contents and the sections."""
    grades = inputs.grades
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    finals = [s.final for s in grades.submitted]
    summary = (f'<p id="summary">{len(grades.submitted)} submissions of {len(grades.students)} students in the '
               f"gradebook; mean final score {statistics.fmean(finals) if finals else 0:.1f} of {grades.maximum():g} "
               f"(extra credit beyond it). Generated {now}.</p>")
    nav = "<nav>" + "".join(f'<a href="#{key}">{title}</a>' for key, title in SECTIONS.items()) + "</nav>"
    bodies = {"distributions": distributions(grades), "parts": parts(grades, inputs.records),
              "item-analysis": item_analysis(grades), "operations": operations(grades, inputs.records),
              "late-work": late_work(inputs), "similarity": similarity(inputs.similar, inputs.similarity)}
    return summary + nav + "".join(f'<section id="{key}"><h2>{SECTIONS[key]}</h2>{bodies[key]}</section>'
                                   for key in SECTIONS)


# ---------------------------------------------------------------------- building blocks

def image(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def table(headers: list[str], rows: list[list[str]], empty: str = "none") -> str:
    """An HTML table of already escaped cells (numbers right-aligned); ``empty`` when there are no rows."""
    if not rows:
        return f'<p class="note">{empty}</p>'
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if _numeric(c) else f"<td>{c}</td>" for c in row)
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _numeric(cell: str) -> bool:
    return cell.replace(".", "", 1).replace("%", "").replace("-", "", 1).strip().isdigit()


def percent(share: float) -> str:
    return f"{100 * share:.0f}%"


def when(moment: datetime.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def esc(text) -> str:
    return html.escape(str(text))


# ---------------------------------------------------------------------- sections

def distributions(grades: ClassGrades) -> str:
    """A figure per notebook and one for the total: autograded, manual and extra credit apart."""
    students = grades.submitted
    out = []
    for notebook in grades.notebooks + [None]:
        panels = []
        for kind in (AUTOGRADED, MANUAL, EXTRA_CREDIT):
            cells = [c for c in grades.cells if c.kind == kind and notebook in (None, c.notebook)]
            if cells:
                panels.append(figures.Distribution(kind, [s.points(cells) for s in students],
                                                   sum(c.max_score for c in cells)))
        if notebook is None:
            panels.append(figures.Distribution("final (after late penalty)", [s.final for s in students],
                                               grades.maximum()))
        title = f"{ASSIGNMENT}/{notebook}" if notebook else f"{ASSIGNMENT}: total"
        out.append(f"<h3>{esc(title)}</h3>" + image(figures.distribution_figure(title, panels), f"{title} distribution"))
    return "".join(out)


def parts(grades: ClassGrades, records: list[GradingRecord]) -> str:
    """Per notebook: the parts figure and a table with the most frequent failed checks."""
    failures = stats.frequent_failures(records)
    out = ['<p class="note">Marked: parts that nearly everyone fails or nobody fails '
           f"(at most {percent(stats.FLAG_SHARE)} with, or without, full marks). "
           "Failed checks: what the grader checked, the message most students read, how many students hit it.</p>"]
    for notebook in grades.notebooks:
        rows = []
        for part in stats.part_stats(grades, notebook):
            checks = failures.get((notebook, part.name), [])
            listed = "".join(f"<li><b>{f.students}</b> × {esc(f.part)}: {esc(f.what)}"
                             + (f' <span class="note">({esc(f.detail)})</span>' if f.detail else "") + "</li>"
                             for f in checks)
            rows.append([esc(part.name), part.kind, f"{part.max_score:g}", f"{part.mean:.2f}", percent(part.full),
                         f'<span class="flag">{part.flag}</span>' if part.flag else "",
                         f'<ul class="checks">{listed}</ul>' if listed else ""])
        out.append(f"<h3>{esc(notebook)}</h3>"
                   + image(figures.parts_figure(notebook, stats.part_stats(grades, notebook)), f"{notebook} parts")
                   + table(["part", "kind", "points", "mean", "full marks", "marked", "most frequent failed checks"], rows))
    return "".join(out)


def item_analysis(grades: ClassGrades) -> str:
    """Every part's correlation with the rest of the score, lowest first."""
    found = [p for notebook in grades.notebooks for p in stats.part_stats(grades, notebook)]
    found.sort(key=lambda p: (p.correlation is None, p.correlation if p.correlation is not None else 0.0))
    rows = [[esc(p.notebook), esc(p.name), p.kind, "—" if p.correlation is None else f"{p.correlation:.2f}",
             f'<span class="flag">{p.discrimination}</span>' if p.discrimination else
             ("everyone scored the same" if p.correlation is None else "")] for p in found]
    return (f'<p class="note">Correlation of each part with the rest of the score (total minus the part). Below '
            f"{stats.LOW_DISCRIMINATION:g} the part hardly separates strong from weak students; a negative one "
            "points at an unfair, ambiguous or broken question. Few students make these numbers noisy.</p>"
            + table(["notebook", "part", "kind", "item-rest r", "marked"], rows))


def operations(grades: ClassGrades, records: list[GradingRecord]) -> str:
    """Grading time, kernel restarts, grader errors, unreadable files, manual grading progress."""
    seconds = stats.submission_seconds(records)
    timing = image(figures.timing_figure(list(seconds.values())), "grading time per submission") if seconds else ""
    per_notebook = table(["notebook", "submissions", "mean s", "median s", "longest s", "kernel restarts",
                          "gave up", "grader errors", "unreadable"],
                         [[esc(o.notebook), str(o.submissions), f"{o.mean_seconds:.1f}", f"{o.median_seconds:.1f}",
                           f"{o.longest_seconds:.1f}", str(o.kernel_restarts), str(o.gave_up), str(o.grader_errors),
                           str(o.unreadable)] for o in stats.notebook_operations(records)], "no grading records")
    slowest = table(["student", "seconds"], [[esc(s), f"{t:.1f}"] for s, t in
                                             sorted(seconds.items(), key=lambda item: -item[1])[:SLOWEST]])
    restarts = table(["student", "notebook", "kernel restarts", "rest left ungraded"],
                     [[esc(r.student), esc(r.notebook), str(r.kernel_restarts), "yes" if r.gave_up else "no"]
                      for r in records if r.kernel_restarts or r.gave_up])
    errors = table(["student", "notebook", "test cells (graded by hand)"],
                   [[esc(r.student), esc(r.notebook), esc(", ".join(r.grader_errors))] for r in records if r.grader_errors])
    unreadable = table(["student", "notebook"], [[esc(r.student), esc(r.notebook)] for r in records if r.unreadable])
    progress = table(["notebook", "grades given by TAs", "still open", "submissions waiting", "done"],
                     [[esc(p.notebook), str(p.graded), str(p.open), str(p.submissions_waiting),
                       f'<span class="bar"><span style="width:{100 * p.done:.0f}%"></span></span> {percent(p.done)}']
                      for p in stats.manual_progress(grades)])
    return (f"<h3>Grading time</h3>{timing}{per_notebook}<h3>Slowest submissions</h3>{slowest}"
            f"<h3>Kernel restarts</h3>{restarts}<h3>Grader errors</h3>{errors}<h3>Unreadable files</h3>{unreadable}"
            f'<h3 id="manual-grading">Manual grading</h3><p class="note">Written answers and parts whose grader '
            f"failed wait for a TA in nbgrader's formgrader.</p>{progress}")


def late_work(inputs: ReportInputs) -> str:
    """The policy, then every submission with a time: when, how late, what the LMS said, the penalty."""
    grades, policy = inputs.grades, inputs.policy
    extensions = late.read_extensions(policy.extensions)
    head = (f"<p>Due {when(grades.duedate)}; {percent(policy.penalty_per_day)} of the score per started day late, "
            f"at most {percent(policy.cap)}; {len(extensions)} extension(s).</p>")
    rows = []
    for student in grades.submitted:
        lms = read_lms_submission(inputs.root, student.student)
        behind = (student.timestamp - grades.duedate).total_seconds() if student.timestamp and grades.duedate else 0.0
        counted = policy.seconds_late(student.student, max(0.0, behind))
        notes = []
        if lms and lms.marked_late and student.timestamp and counted <= 0:
            notes.append("the LMS marks it late, its time is not past the due date: check in the LMS")
        if lms and lms.marked_late and lms.time_source == "zip entry":
            notes.append("time from the zip entry: when the LMS built the zip, an upper bound")
        if not (student.timestamp or (lms and lms.marked_late is not None) or student.penalty):
            continue
        marker = "—" if not lms or lms.marked_late is None else ("late" if lms.marked_late else "on time")
        rows.append([esc(student.student), esc(lms.files[0].lms if lms and lms.files else "—"), when(student.timestamp),
                     marker, f"{extensions[student.student].days:g}" if student.student in extensions else "",
                     f"{counted / late.SECONDS_PER_DAY:.2f}" if counted else "0", f"{student.penalty:g}",
                     esc("; ".join(notes))])
    return head + table(["student", "LMS", "submitted", "LMS marker", "extension (days)", "days late",
                         "penalty (points)", "notes"], rows, "no submission with a time or an LMS late marker")


def similarity(found: SimilarityPairs, settings: SimilaritySettings) -> str:
    """Per notebook: the pairs at or above the threshold, each with its matching cells side by side."""
    out = [f'<p class="note">Solution cells compared token by token (names, comments and the release\'s own code '
           f"ignored; fingerprints shared by more than {settings.common_limit} submissions count as idioms). Listed: "
           f"pairs where one student's share of matching code is at least {percent(settings.threshold)}. "
           "A listing is a reason to look, not a verdict.</p>"]
    for notebook, pairs in found.items():
        out.append(f"<h3>{esc(notebook)}</h3>")
        if not pairs:
            out.append('<p class="note">no pair above the threshold</p>')
        for pair in pairs:
            cells = "".join(f"<h4>{esc(c.grade_id)}</h4><div class=\"side\"><pre>{c.left_html}</pre>"
                            f"<pre>{c.right_html}</pre></div>" for c in pair.cells)
            out.append(f"<details><summary><b>{esc(pair.left)}</b> and <b>{esc(pair.right)}</b>: "
                       f"{percent(pair.left_share)} / {percent(pair.right_share)} of their code matches, in "
                       f"{len(pair.cells)} cell(s)</summary>{cells}</details>")
    return "".join(out)
