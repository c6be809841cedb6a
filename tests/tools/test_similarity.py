"""Does the similarity report flag a copy with renamed variables, and leave independent solutions alone?

No grading here: the submissions are notebooks made from the release, compared as `course similarity`
compares them.
"""

import io
import tokenize

import nbformat
import pytest

from course.tools.notebooks import fill, grade_id, read
from course.tools.similarity import SimilaritySettings, find_similar, similar_pairs, solution_cells
from support import REPO

# A student who wrote three functions with plain loops, in their own words, below the release's docstrings.
LOOP_BODIES = {
    "conv_output_size": """
if isinstance(padding, int):
    left = right = padding
else:
    left, right = padding
length = size + left + right
reach = (kernel_size - 1) * dilation
if reach >= length:
    raise ValueError("kernel larger than the padded input")
count, start = 0, 0
while start + reach < length:   # count the window starts one by one
    count += 1
    start += stride
return count
""",
    "conv_layer_cost": """
c_in, rows, cols = in_shape
result_rows = conv_output_size(rows, kernel_size, stride, padding)
result_cols = conv_output_size(cols, kernel_size, stride, padding)
weights = 0
for _ in range(out_channels):
    weights += c_in * kernel_size * kernel_size + (1 if bias else 0)
multiplications = 0
for _ in range(out_channels * result_rows * result_cols):
    multiplications += c_in * kernel_size * kernel_size
return {"out_shape": (out_channels, result_rows, result_cols), "params": weights, "mults": multiplications}
""",
    "conv2d_forward": """
step_r, step_c = as_pair(stride)
pad_r, pad_c = as_pair(padding)
gap_r, gap_c = as_pair(dilation)
padded = torch.nn.functional.pad(x, (pad_c, pad_c, pad_r, pad_r))
rows_out = (padded.shape[2] - gap_r * (w.shape[2] - 1) - 1) // step_r + 1
cols_out = (padded.shape[3] - gap_c * (w.shape[3] - 1) - 1) // step_c + 1
result = torch.zeros(x.shape[0], w.shape[0], rows_out, cols_out, dtype=x.dtype)
for i in range(x.shape[0]):
    for f in range(w.shape[0]):
        for r in range(rows_out):
            for s in range(cols_out):
                total = 0.0 if b is None else b[f]
                for ch in range(x.shape[1]):
                    for u in range(w.shape[2]):
                        for v in range(w.shape[3]):
                            total = total + padded[i, ch, r * step_r + u * gap_r, s * step_c + v * gap_c] * w[f, ch, u, v]
                result[i, f, r, s] = total
return result, (x, w, b, stride, padding, dilation)
""",
}


def loop_solutions(release: dict[str, str]) -> dict[str, str]:
    """The release's cells with the loop student's bodies in place of the stubs."""
    def indent(body: str, like: str) -> str:
        pad = like[:len(like) - len(like.lstrip())]
        return "\n".join(pad + line if line else line for line in body.strip("\n").splitlines())
    written = {}
    for gid, body in LOOP_BODIES.items():
        stub_line = next(line for line in release[gid].splitlines() if "# YOUR CODE HERE" in line)
        start = release[gid].index(stub_line)
        end = release[gid].index("raise NotImplementedError()", start) + len("raise NotImplementedError()")
        written[gid] = release[gid][:start] + indent(body, stub_line) + release[gid][end:]
    return written


def renamed(code: str) -> str:
    """``code`` with every name the student chose renamed and comments reworded: a disguised copy."""
    builtins = set(dir(__builtins__)) | {"torch", "self", "super", "nn", "F"}
    tokens = []
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.NAME and not tok.string[0].isupper() and tok.string not in builtins \
                and not __import__("keyword").iskeyword(tok.string):
            tok = tok._replace(string=f"my_{tok.string}")
        elif tok.type == tokenize.COMMENT:
            tok = tok._replace(string="# my own idea")
        tokens.append(tok)
    return tokenize.untokenize(tokens)


@pytest.fixture(scope="module")
def cells():
    """Solution cells of the release, the reference, a renamed copy of it and the loop-based student."""
    release = read(REPO / "release" / "hw2" / "hw2_cnn.ipynb")
    reference = solution_cells(fill(release, read(REPO / "source" / "hw2" / "hw2_cnn.ipynb")))
    release_cells = solution_cells(release)
    loops = {**release_cells, **loop_solutions(release_cells)}
    return release_cells, {"ref": reference, "copy": {gid: renamed(code) for gid, code in reference.items()},
                           "loops": loops, "untouched": release_cells}


def test_is_a_copy_with_renamed_variables_flagged(cells):
    release, submissions = cells
    pairs = similar_pairs("hw2_cnn", submissions, release)
    copy = next(p for p in pairs if {p.left, p.right} == {"copy", "ref"})
    assert copy.similarity > 0.8
    conv = next(c for c in copy.cells if c.grade_id == "conv2d_forward")
    assert '<mark class="copied">' in conv.left_html and "my_xpad" in conv.left_html + conv.right_html


def test_are_two_independent_correct_solutions_left_alone(cells):
    release, submissions = cells
    pairs = similar_pairs("hw2_cnn", submissions, release)
    assert {frozenset((p.left, p.right)) for p in pairs} == {frozenset(("copy", "ref"))}
    loose = similar_pairs("hw2_cnn", {s: submissions[s] for s in ("ref", "loops")}, release,
                          SimilaritySettings(threshold=0.0, min_match=0))
    assert all(p.similarity < SimilaritySettings().threshold / 2 for p in loose)


def test_does_the_release_starter_code_count_for_nothing(cells):
    release, submissions = cells
    pairs = similar_pairs("hw2_cnn", {"a": release, "b": release, "c": submissions["untouched"]}, release,
                          SimilaritySettings(threshold=0.0, min_match=0))
    assert pairs == []


def test_are_idioms_that_many_students_share_ignored(cells):
    release, submissions = cells
    class_of_copies = {f"s{i}": submissions["ref"] for i in range(4)}
    assert similar_pairs("hw2_cnn", class_of_copies, release, SimilaritySettings(common_limit=3)) == []
    assert len(similar_pairs("hw2_cnn", class_of_copies, release, SimilaritySettings(common_limit=4))) == 6


def test_does_it_read_what_students_submitted(tmp_path, cells):
    release, submissions = cells
    (tmp_path / "release" / "hw2").mkdir(parents=True)
    nb = read(REPO / "release" / "hw2" / "hw2_cnn.ipynb")
    nbformat.write(nb, tmp_path / "release" / "hw2" / "hw2_cnn.ipynb")
    for student in ("ref", "copy"):
        mine = nbformat.from_dict(nb)
        for cell in mine.cells:
            if grade_id(cell) in submissions[student] and cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = submissions[student][grade_id(cell)]
        (tmp_path / "submitted" / student / "hw2").mkdir(parents=True)
        nbformat.write(mine, tmp_path / "submitted" / student / "hw2" / "hw2_cnn.ipynb")
    (tmp_path / "submitted" / "broken" / "hw2").mkdir(parents=True)
    (tmp_path / "submitted" / "broken" / "hw2" / "hw2_cnn.ipynb").write_text("not a notebook")
    found = find_similar(str(tmp_path))
    assert [(p.left, p.right) for p in found["hw2_cnn"]] == [("copy", "ref")]
