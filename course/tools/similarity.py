"""Similarity of the students' solution cells across submissions, per notebook.

Built on copydetect (the winnowing of Schleimer, Wilkerson and Aiken, *Winnowing: local algorithms
for document fingerprinting*, SIGMOD 2003, over Python tokens):

1. every code solution cell (nbgrader ``solution: true``, matched by grade id, so Colab's reordering
   or metadata do not matter) is tokenised by Pygments; comments and whitespace are dropped and every
   name becomes ``V``/``F``/``O``, every string ``S``, so renaming variables or rewording comments
   changes nothing;
2. its k-grams (``noise`` characters of that token text) are hashed and winnowed (one fingerprint per
   window of ``guarantee - noise + 1`` k-grams: any match of ``guarantee`` characters is found);
3. fingerprints of the release's own version of the cell (the starter code, docstrings, stubs) are
   dropped, and so are fingerprints that more than ``common_limit`` submissions share (idioms that
   everyone writes, as MOSS's ``-m``);
4. two submissions are compared cell by cell; a student's share is the part of their fingerprinted
   code that matches the other's same cell, over the whole notebook; a pair whose larger share reaches
   ``threshold`` (and whose match is at least ``min_match`` characters of token text) is listed, with
   the matching cells side by side, the matching stretches marked.
"""

import html
import os
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

import nbformat
import numpy as np
from copydetect.detector import compare_files
from copydetect.utils import filter_code, get_token_coverage, hashed_kgrams, highlight_overlap, winnow

from course.assignment import ASSIGNMENT
from course.tools.notebooks import grade_id, is_solution, notebook_paths
from course.tools.samples import available_notebooks

MARK_START, MARK_END = '<mark class="copied">', "</mark>"


@dataclass(frozen=True)
class SimilaritySettings:
    """How similar is too similar, and what counts as a match."""

    threshold: float = 0.6  # a pair is listed when one student's share of matching code reaches this
    noise: int = 25  # k: a match shorter than this many characters of token text is ignored (copydetect's default)
    guarantee: int = 30  # every match at least this long is found (winnowing window = guarantee - noise + 1)
    common_limit: int = 10  # fingerprints in more submissions than this are idioms, not copying (MOSS's -m)
    min_match: int = 100  # characters of token text a listed pair must share at the least (a few lines of code)


@dataclass
class Fingerprint:
    """One cell of one submission, fingerprinted (the attributes copydetect's ``compare_files`` reads)."""

    raw_code: str
    filtered_code: str
    offsets: np.ndarray
    hash_idx: dict[int, list[int]]
    k: int
    token_coverage: float = 0.0

    @property
    def hashes(self) -> set[int]:
        return set(self.hash_idx)


def fingerprint(code: str, settings: SimilaritySettings, ignore: set[int] = frozenset()) -> Fingerprint:
    """Tokenise, filter, hash and winnow ``code``; fingerprints in ``ignore`` are dropped."""
    filtered, offsets = filter_code(code, "cell.py", "python")
    found = Fingerprint(code, filtered, offsets, {}, settings.noise)
    if len(filtered) >= settings.noise:
        hashes, positions = winnow(hashed_kgrams(filtered, settings.noise),
                                   settings.guarantee - settings.noise + 1, remove_duplicates=False)
        for value, position in zip(hashes.tolist(), positions.tolist()):
            if value not in ignore:
                found.hash_idx.setdefault(value, []).append(position)
    found.token_coverage = float(get_token_coverage(found.hash_idx, settings.noise, len(filtered)))
    return found


@dataclass(frozen=True)
class CellMatch:
    """The same solution cell of two students, the matching stretches marked (HTML)."""

    grade_id: str
    left_html: str
    right_html: str
    matched: int  # characters of token text that match


@dataclass
class SimilarPair:
    """Two submissions of one notebook that share much of their own code."""

    notebook: str
    left: str
    right: str
    left_share: float  # share of the left student's fingerprinted code found in the right's
    right_share: float
    cells: list[CellMatch] = field(default_factory=list)

    @property
    def similarity(self) -> float:
        return max(self.left_share, self.right_share)


SimilarityPairs = dict[str, list[SimilarPair]]  # notebook -> its similar pairs, most similar first


def solution_cells(nb) -> dict[str, str]:
    """The code solution cells of a notebook by grade id (the first of duplicated ids)."""
    cells = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and is_solution(cell) and grade_id(cell) not in cells:
            cells[grade_id(cell)] = cell.source
    return cells


def similar_pairs(notebook: str, submissions: dict[str, dict[str, str]], release: dict[str, str],
                  settings: SimilaritySettings = SimilaritySettings()) -> list[SimilarPair]:
    """The pairs of ``submissions`` (student -> grade id -> code) of ``notebook`` at or above the
    threshold, most similar first; ``release`` holds the release's version of each cell."""
    boilerplate = {gid: fingerprint(code, settings).hashes for gid, code in release.items()}
    own = {student: {gid: code for gid, code in cells.items() if code.strip() != release.get(gid, "").strip()}
           for student, cells in submissions.items()}
    prints = {s: {gid: fingerprint(code, settings, boilerplate.get(gid, set())) for gid, code in cells.items()}
              for s, cells in own.items()}
    sharing: dict[tuple[str, int], set[str]] = defaultdict(set)
    for student, cells in prints.items():
        for gid, found in cells.items():
            for value in found.hashes:
                sharing[(gid, value)].add(student)
    common: dict[str, set[int]] = defaultdict(set)
    for (gid, value), students in sharing.items():
        if len(students) > settings.common_limit:
            common[gid].add(value)
    if common:
        prints = {s: {gid: fingerprint(own[s][gid], settings, boilerplate.get(gid, set()) | common[gid])
                      for gid in cells} for s, cells in prints.items()}
    candidates = {tuple(sorted(pair)) for (gid, value), students in sharing.items() if value not in common[gid]
                  for pair in combinations(sorted(students), 2)}
    pairs = [pair for left, right in sorted(candidates)
             if (pair := _compare(notebook, left, right, prints[left], prints[right], settings))]
    return sorted(pairs, key=lambda p: (-p.similarity, p.left, p.right))


def _compare(notebook: str, left: str, right: str, a: dict[str, Fingerprint], b: dict[str, Fingerprint],
             settings: SimilaritySettings) -> SimilarPair | None:
    matched_a = matched_b = 0.0
    cells = []
    for gid in sorted(set(a) & set(b)):
        overlap, _, (slices_a, slices_b) = compare_files(a[gid], b[gid])
        if overlap:
            matched_a += _matched(a[gid], b[gid])
            matched_b += _matched(b[gid], a[gid])
            cells.append(CellMatch(gid, _marked(a[gid].raw_code, slices_a), _marked(b[gid].raw_code, slices_b),
                                   int(overlap)))
    coverage_a = sum(f.token_coverage for f in a.values())
    coverage_b = sum(f.token_coverage for f in b.values())
    pair = SimilarPair(notebook, left, right, matched_a / coverage_a if coverage_a else 0.0,
                       matched_b / coverage_b if coverage_b else 0.0, cells)
    if pair.similarity < settings.threshold or sum(c.matched for c in cells) < settings.min_match:
        return None
    return pair


def _matched(one: Fingerprint, other: Fingerprint) -> float:
    """Characters of ``one``'s token text covered by fingerprints that ``other`` has too."""
    shared = {h: one.hash_idx[h] for h in one.hashes & other.hashes}
    return float(get_token_coverage(shared, one.k, len(one.filtered_code)))


def _marked(code: str, slices) -> str:
    """``code`` as HTML with the matching stretches in ``<mark>``."""
    if len(slices[0]) == 0:
        return html.escape(code)
    marked, _ = highlight_overlap(code, np.asarray(slices, dtype=int), MARK_START, MARK_END, escape_html=True)
    return marked


def read_submissions(root: str, notebook: str) -> dict[str, dict[str, str]]:
    """Every student's solution cells of ``notebook`` as submitted (``submitted/<student>/hw2/``);
    files that are not notebooks are left out."""
    found = {}
    folder = os.path.join(root, "submitted")
    for student in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        path = os.path.join(folder, student, ASSIGNMENT, f"{notebook}.ipynb")
        try:
            found[student] = solution_cells(nbformat.read(path, as_version=4))
        except (OSError, ValueError, KeyError, AttributeError):  # missing, not JSON, not a notebook
            continue
    return found


def find_similar(root: str, settings: SimilaritySettings = SimilaritySettings()) -> SimilarityPairs:
    """Per notebook of the release, the similar pairs among the submissions in ``root``."""
    return {notebook: similar_pairs(notebook, read_submissions(root, notebook),
                                    solution_cells(nbformat.read(notebook_paths(root, "release", notebook), as_version=4)),
                                    settings)
            for notebook in available_notebooks(root)}
