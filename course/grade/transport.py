"""How probes reach the student's kernel: the probe modules of :mod:`course.probes`, compiled here and
loaded there as real modules under a private package name, and the program one probe call runs.

The modules are compiled once in the grading process and written, as :mod:`marshal` data, to a file the
kernel may read but not write (:func:`write_code`, in the workspace's ``shipped`` folder, outside the
kernel's writable one); the kernel runs this same interpreter (:mod:`course.sandbox.manager` starts it
with ``sys.executable``), so it can load them. Every call loads the modules afresh from that file (a
student's cell cannot leave a modified probe module behind for the next call), executes only the module
of its probe (with what that imports) and removes them again afterwards, so the student's namespace
never sees them between calls. The program a call sends is a few lines: a large cell costs the kernel
far more than the probe. :class:`~course.grade.subject.LocalSubject` runs the very same program in this
process, so a grader sees the same values either way.
"""

import inspect
import io
import marshal
import os

import numpy as np

import course.probes
from course.probes import codec, runtime

PACKAGE = "_course_probes"  # the probes' package name inside a kernel: no student module is called so
PREFIX = "<course-probe"


def _compiled() -> dict:
    """Module name under :data:`PACKAGE` -> its code object as :mod:`marshal` bytes, unmarshalled only
    when a call imports the module. The package itself is empty there: a call imports just the module
    of its probe (with what that imports)."""
    code = {PACKAGE: marshal.dumps(compile("", f"{PREFIX} {PACKAGE}>", "exec"))}
    for name in course.probes.MODULES:
        module = f"{PACKAGE}.{name}"
        code[module] = marshal.dumps(compile(inspect.getsource(getattr(course.probes, name)), f"{PREFIX} {module}>", "exec"))
    return code


CODE = _compiled()
CODE_FILE = "probes.marshal"
# probe name -> the module (under PACKAGE) that defines and registers it
PROBE_MODULES = {name: f"{PACKAGE}.{function.__module__.rsplit('.', 1)[1]}" for name, function in runtime.PROBES.items()}

# The program of one call. It installs a finder that serves the shipped code under PACKAGE, imports the
# probe's module (which registers the probe), runs the probe and cleans up. ``shipped`` is the code (a
# dict of marshalled code objects) or the path of the file that holds it.
_CALL = '''
def __course_probe(shipped, module_name, probe, path, namespace):
    import importlib.abc, importlib.util, marshal, sys

    if isinstance(shipped, str):
        with open(shipped, "rb") as f:
            shipped = marshal.load(f)

    class _Shipped(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, fullname, path=None, target=None):
            if fullname in shipped:
                return importlib.util.spec_from_loader(fullname, self, is_package=fullname == {package!r})
            return None

        def create_module(self, spec):
            return None

        def exec_module(self, module):
            exec(marshal.loads(shipped[module.__name__]), module.__dict__)

    def _forget():
        # one pop per shipped name, never a walk over sys.modules: another thread (the student's, the
        # grader's) may import meanwhile, and only the shipped names are ever imported under the package
        for name in shipped:
            sys.modules.pop(name, None)

    finder = _Shipped()
    _forget()
    sys.meta_path.insert(0, finder)
    try:
        runtime = importlib.import_module({package!r} + ".runtime")
        if module_name:
            importlib.import_module(module_name)
        return runtime.run_files(namespace, probe, path) if path else runtime
    finally:
        sys.meta_path.remove(finder)
        _forget()
'''.replace("{package!r}", repr(PACKAGE))


def write_code(folder: str) -> str:
    """Write the compiled probe modules into ``folder`` (one the kernel may read, not write); their path."""
    path = os.path.join(folder, CODE_FILE)
    with open(path, "wb") as f:
        marshal.dump(CODE, f)
    return path


def kernel_program(probe_name: str, io_path: str, code_path: str) -> str:
    """The code a kernel runs for one probe call: the probe modules from ``code_path`` (see
    :func:`write_code`), inputs at ``io_path.in``, outputs to ``io_path.out``."""
    return (_CALL + f"__course_probe({code_path!r}, {PROBE_MODULES.get(probe_name)!r}, {probe_name!r}, "
            f"{io_path!r}, globals())\ndel __course_probe\n")


def run_here(namespace: dict, probe_name: str, inputs: dict):
    """Run the probe in this process on ``namespace`` exactly as a kernel would: the shipped modules
    run it, and the inputs and the outcome cross the codec (the outcome is decoded here)."""
    program: dict = {}
    exec(compile(_CALL, f"{PREFIX} bootstrap>", "exec"), program)
    shipped = program["__course_probe"](CODE, PROBE_MODULES.get(probe_name), None, "", {})  # the shipped runtime
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
