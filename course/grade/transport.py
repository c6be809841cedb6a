"""How probes reach the student's kernel: the sources of :mod:`course.probes`, loaded there as real
modules under a private package name, and the program one probe call runs.

Every call loads the probe modules afresh from the sources shipped with it (a student's cell cannot
leave a modified probe module behind for the next call) and removes them again afterwards, so the
student's namespace never sees them between calls. :class:`~course.grade.subject.LocalSubject` runs
the very same program in this process, so a grader sees the same values either way.
"""

import inspect
import io

import numpy as np

import course.probes
from course.probes import codec

PACKAGE = "_course_probes"  # the probes' package name inside a kernel: no student module is called so


def _sources() -> dict[str, str]:
    """Module name under :data:`PACKAGE` -> source, for the package and each of its modules."""
    sources = {PACKAGE: inspect.getsource(course.probes)}
    for name in course.probes.MODULES:
        sources[f"{PACKAGE}.{name}"] = inspect.getsource(getattr(course.probes, name))
    return sources


SOURCES = _sources()

# The program of one call. It installs a finder that serves the shipped sources under PACKAGE, imports
# the package (which imports and registers every probe), runs the probe and cleans up.
_CALL = '''
def __course_probe(sources, probe, path, namespace):
    import importlib.abc, importlib.util, sys

    class _Shipped(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, fullname, path=None, target=None):
            if fullname in sources:
                return importlib.util.spec_from_loader(fullname, self, is_package=fullname == {package!r})
            return None

        def create_module(self, spec):
            return None

        def exec_module(self, module):
            exec(compile(sources[module.__name__], "{prefix} " + module.__name__ + ">", "exec"), module.__dict__)

    def _forget():
        for name in [n for n in sys.modules if n == {package!r} or n.startswith({package!r} + ".")]:
            del sys.modules[name]

    finder = _Shipped()
    _forget()
    sys.meta_path.insert(0, finder)
    try:
        runtime = importlib.import_module({package!r} + ".runtime")
        importlib.import_module({package!r})
        return runtime.run_files(namespace, probe, path) if path else runtime
    finally:
        sys.meta_path.remove(finder)
        _forget()
'''.replace("{package!r}", repr(PACKAGE)).replace("{prefix}", "<course-probe")


def kernel_program(probe_name: str, io_path: str) -> str:
    """The code a kernel runs for one probe call: inputs at ``io_path.in``, outputs to ``io_path.out``."""
    return (_CALL + f"__course_probe({SOURCES!r}, {probe_name!r}, {io_path!r}, globals())\n"
            "del __course_probe\n")


def run_here(namespace: dict, probe_name: str, inputs: dict):
    """Run the probe in this process on ``namespace`` exactly as a kernel would: the shipped modules
    run it, and the inputs and the outcome cross the codec (the outcome is decoded here)."""
    program: dict = {}
    exec(compile(_CALL, "<course-probe bootstrap>", "exec"), program)
    shipped = program["__course_probe"](SOURCES, None, "", {})  # the shipped runtime (no files)
    outcome = shipped.run(namespace, probe_name, _cross(inputs, codec, shipped.codec))
    return _cross(outcome, shipped.codec, codec)


def _cross(value, writer, reader):
    """``value`` encoded by the codec module ``writer`` and decoded by ``reader``, through ``.npz``."""
    arrays = []
    tree = writer.encode(value, arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **{f"a{i}": a for i, a in enumerate(arrays)})
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        return reader.decode(tree, loaded)


def roundtrip(value):
    """``value`` after a trip through the probe codec (what the other side of a kernel would see)."""
    return _cross(value, codec, codec)
