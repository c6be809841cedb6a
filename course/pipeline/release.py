"""Release-time additions: an "Open in Colab" link at the top of every student notebook."""

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

LINK_MARKER = "<!-- course: open in colab -->"
# Where the badge points until the instructor says where the release is published: `course release` refuses it.
PLACEHOLDER_BASE = "https://colab.research.google.com/github/your-org/your-course/blob/main/release"


def is_placeholder(base_url: str) -> bool:
    """Whether a Colab base URL is still the package's placeholder (or names no repository at all)."""
    return base_url.rstrip("/") == PLACEHOLDER_BASE or "your-org" in base_url


class AddColabLink(NbGraderPreprocessor):
    """Put a badge linking to ``{base_url}/{assignment}/{notebook}.ipynb`` in Colab above the first cell."""

    base_url = Unicode(
        PLACEHOLDER_BASE,
        help="Colab URL of the folder that holds the published release (one subfolder per assignment).",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        url = f"{self.base_url.rstrip('/')}/{info['assignment']}/{info['notebook']}.ipynb"
        nb.cells = [c for c in nb.cells if LINK_MARKER not in c.source]
        badge = (f'{LINK_MARKER}\n<a href="{url}" target="_parent"><img src="https://colab.research.google.com/'
                 'assets/colab-badge.svg" alt="Open In Colab"/></a>')
        cell = nbformat.v4.new_markdown_cell(badge)
        cell.id = "open-in-colab"  # a fixed id keeps the release identical from one generation to the next
        nb.cells.insert(0, cell)
        return nb, resources
