"""Check the release as students will meet it: every release notebook, with the instructor's solutions
filled in, runs top to bottom as in Colab (every cell, the long runs included), with only what Colab
preinstalls, no hidden package and no local files.

The notebooks run as a student's Colab run does (:mod:`course.tools.student_run`: the grading sandbox keeps
the course folder and the package ``course`` out of reach), on the grading machine's data instead of
CIFAR-10's download (there is no internet here); the runs are the trained samples' runs, cached.
"""

import ast
import sys
from dataclasses import dataclass

from course.tools.notebooks import fill, notebook_paths, read
from course.tools.samples import trained

# What Colab's runtime has without a pip install ("google": google.colab, Colab's own module).
COLAB_PACKAGES = {"torch", "torchvision", "numpy", "matplotlib", "tqdm", "PIL", "IPython", "google"}


@dataclass
class Problem:
    notebook: str
    cell: int
    what: str

    def __str__(self):
        return f"{self.notebook}, cell {self.cell}: {self.what}"


def foreign_imports(nb, name: str) -> list[Problem]:
    """Imports of anything beyond the standard library and Colab's preinstalled packages."""
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse("\n".join(l for l in cell.source.splitlines() if not l.lstrip().startswith(("%", "!"))))
        except SyntaxError as error:
            problems.append(Problem(name, index, f"does not parse: {error}"))
            continue
        for node in ast.walk(tree):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for module in modules:
                top = module.split(".")[0]
                if top not in COLAB_PACKAGES and top not in sys.stdlib_module_names:
                    problems.append(Problem(name, index, f"imports {module}, which Colab does not preinstall"))
    return problems


def run_problems(nb, name: str, root: str) -> list[Problem]:
    """Run ``nb`` as a student runs it in Colab; every error output is a problem."""
    executed = trained(nb, name, root)
    return [Problem(name, index, f"{output.ename}: {output.evalue}")
            for index, cell in enumerate(executed.cells) if cell.cell_type == "code"
            for output in cell.outputs if output.output_type == "error"]


def check_release(root: str, names: list[str]) -> list[Problem]:
    """All problems found in the release notebooks ``names`` (empty: the release is sound)."""
    problems = []
    for name in names:
        nb = fill(read(notebook_paths(root, "release", name)), read(notebook_paths(root, "source", name)))
        problems += foreign_imports(nb, name)
        problems += run_problems(nb, name, root)
    return problems
