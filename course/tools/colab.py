"""What Google Colab does to a notebook on its way back from a student (see the course spec).

Used to build round-tripped sample submissions and tests, so grading is proven on the files
students really submit.
"""

import json
import uuid

import nbformat

BADGE = ('<a href="https://colab.research.google.com/github/course/hw2/blob/main/{name}" target="_parent">'
         '<img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>')


def _reordered(value):
    """Dicts with their keys in reverse order, recursively (Colab does not keep nbformat's order)."""
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


def roundtrip(nb, name: str, seed: int = 0) -> str:
    """The JSON text Colab would save for ``nb``: nbformat 4.0 without cell ids, a Colab badge cell at
    the top, Colab's metadata, null execution counts, trailing whitespace stripped from every line,
    sources as line lists, keys reordered and two-space indentation."""
    data = json.loads(nbformat.writes(nb))
    data["nbformat"], data["nbformat_minor"] = 4, 0
    data["metadata"]["colab"] = {"provenance": [], "name": name, "collapsed_sections": []}
    data["metadata"]["accelerator"] = "GPU"
    ids = uuid.UUID(int=seed).hex
    for index, cell in enumerate(data["cells"]):
        cell.pop("id", None)
        cell["metadata"]["id"] = f"{ids[:6]}{index:06d}"
        lines = [line.rstrip() for line in "".join(cell["source"]).split("\n")]
        cell["source"] = [line + "\n" for line in lines[:-1]] + [lines[-1]]
        if cell["cell_type"] == "code":
            cell["execution_count"] = None
            cell["metadata"]["outputId"] = f"{index:08d}-0000-0000-0000-000000000000"
    badge = {"cell_type": "markdown", "metadata": {"id": "view-in-github", "colab_type": "text"},
             "source": [BADGE.format(name=name)]}
    data["cells"].insert(0, badge)
    return json.dumps(_reordered(data), indent=2, ensure_ascii=False)
