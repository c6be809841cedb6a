"""Enforcing "write it yourself": no library convolution or pooling routine in hand-written layers,
no autograd in hand-written backward passes.

Two independent checks, so that neither alone has to be perfect:

* :func:`scan_source` reads the student's function (and the notebook functions it calls) and names
  every library convolution or pooling routine it refers to, however imported or aliased;
* :func:`forbidden_ops` reads the ATen operators that actually ran while the function was called
  (recorded by the probe), which catches routines reached indirectly.

``unfold``/``fold``, ``as_strided``, ``einsum``, matrix products and plain loops are all allowed.
"""

import ast
import re

from course.grade.checker import Case, Checker
from course.grade.subject import Subject

# Library routine names (attribute or imported name) that compute a convolution or a pooling.
ROUTINE = re.compile(
    r"(conv(1d|2d|3d|_transpose[123]d|_tbc|olution\w*)|(Lazy)?Conv(1d|2d|3d|Transpose[123]d)"
    r"|_?(adaptive_|fractional_)?(max|avg|lp)_pool[123]d\w*|(Adaptive|Fractional)?(Max|Avg|LP)Pool[123]d"
    r"|max_unpool[123]d|MaxUnpool[123]d|correlate\w*|convolve\w*|_?convolution\w*)"
)
MODULES = re.compile(r"scipy\.signal|scipy\.ndimage|torch\.ops|torch\._C")  # whole modules off limits
# ATen operators behind those routines (what a dispatch-level recording shows).
ATEN_OP = re.compile(r"(convolution|conv_transpose|_conv_|slow_conv|conv_depthwise|conv_tbc"
                     r"|max_pool|avg_pool|lp_pool|adaptive_\w*pool|fractional_max_pool|max_unpool)")


def code_cells(sources: list[str]) -> list[ast.Module]:
    """Parse notebook cell sources, skipping IPython magics and cells that do not parse."""
    modules = []
    for source in sources:
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            modules.append(ast.parse("\n".join(lines)))
        except SyntaxError:
            continue
    return modules


def _dotted(node) -> str:
    """``a.b.c`` for an attribute chain of names, '' otherwise."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _imported_aliases(modules: list[ast.Module]) -> dict[str, str]:
    """Names bound anywhere in the notebook by an import of a forbidden routine or module."""
    aliases = {}
    for module in modules:
        for node in ast.walk(module):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if ROUTINE.fullmatch(alias.name) or MODULES.match(full):
                        aliases[alias.asname or alias.name] = full
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if MODULES.match(alias.name):
                        aliases[alias.asname or alias.name.split(".")[0]] = alias.name
    return aliases


def _definitions(modules: list[ast.Module]) -> dict[str, ast.AST]:
    """Top-level functions and classes by name; a later cell's definition replaces an earlier one."""
    found = {}
    for module in modules:
        for node in module.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found[node.name] = node
    return found


def _references(node: ast.AST, aliases: dict[str, str], attribute_forbidden, import_forbidden, dynamic_forbidden,
                special=None) -> list[str]:
    """What one definition refers to that a rule forbids, as readable strings.

    Args:
        attribute_forbidden: ``(attribute, dotted path) -> bool`` for ``a.b.attribute``.
        import_forbidden: ``(module, imported name) -> bool`` for an import statement.
        dynamic_forbidden: ``(called builtin, string argument) -> bool`` for ``getattr(x, "...")`` and
            the like: a name built from a string.
        special: ``node -> str | None``, forms only one rule cares about.
    """
    uses = []
    for sub in ast.walk(node):
        found = special(sub) if special else None
        if found:
            uses.append(found)
        elif isinstance(sub, ast.Attribute):
            dotted = _dotted(sub)
            if attribute_forbidden(sub.attr, dotted) or (dotted and dotted.split(".")[0] in aliases):
                uses.append(dotted or f".{sub.attr}")
        elif isinstance(sub, ast.Name) and sub.id in aliases:
            uses.append(f"{sub.id} ({aliases[sub.id]})")
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            module = getattr(sub, "module", None) or ""
            if any(import_forbidden(module, alias.name) for alias in sub.names):
                uses.append(f"import of {', '.join(alias.name for alias in sub.names)}")
        elif (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)
              and any(isinstance(a, ast.Constant) and isinstance(a.value, str) and dynamic_forbidden(sub.func.id, a.value)
                      for a in sub.args)):
            uses.append(f"{sub.func.id}({', '.join(ast.unparse(a) for a in sub.args)})")
    return uses


def _uses(node: ast.AST, aliases: dict[str, str]) -> list[str]:
    """Library convolution or pooling routines referred to inside one definition."""
    return _references(
        node, aliases,
        attribute_forbidden=lambda attr, dotted: bool(ROUTINE.fullmatch(attr) or MODULES.match(dotted)),
        import_forbidden=lambda module, name: bool(ROUTINE.fullmatch(name) or MODULES.match(f"{module}.{name}" if module else name)),
        dynamic_forbidden=lambda called, text: called in ("getattr", "__import__") and bool(ROUTINE.search(text) or MODULES.search(text)))


def _scan(cell_sources: list[str], entry_points: list[str], aliases_of, uses_in) -> list[str]:
    """``"<function>: <reference>"`` for every reference ``uses_in(definition, aliases)`` finds in
    ``entry_points`` or the notebook functions and classes they refer to (transitively)."""
    modules = code_cells(cell_sources)
    definitions, aliases = _definitions(modules), aliases_of(modules)
    found, seen, pending = [], set(), list(entry_points)
    while pending:
        name = pending.pop()
        if name in seen or name not in definitions:
            continue
        seen.add(name)
        node = definitions[name]
        found.extend(f"{name}: {use}" for use in uses_in(node, aliases))
        pending.extend(sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name) and sub.id in definitions)
    return sorted(set(found))


def scan_source(cell_sources: list[str], entry_points: list[str]) -> list[str]:
    """Library convolution or pooling routines referred to by ``entry_points`` or the notebook
    functions they call. Returns ``"<function>: <reference>"`` strings, empty when the code is clean.
    """
    return _scan(cell_sources, entry_points, _imported_aliases, _uses)


def forbidden_ops(ops: list[str]) -> list[str]:
    """The ATen operators in ``ops`` that are library convolution or pooling routines."""
    return sorted(op for op in ops if ATEN_OP.search(op))


def require_handwritten(subject: Subject, checker: Checker, names: list[str]) -> None:
    """Disqualify the part when the source of ``names`` (or what they call) refers to a library
    convolution or pooling routine, or runs code the grader cannot watch (threads, processes, names
    built at run time)."""
    uses = scan_source(subject.cell_sources(), names)
    if uses:
        checker.disqualify("it must not use a library convolution or pooling routine, but it refers to "
                           + "; ".join(uses))
    require_verifiable(subject, checker, names, "no library convolution or pooling")


def check_ops(checker: Checker, case: Case, name: str, ops: list[str], mutated, spawned=()) -> None:
    """Disqualify the part when ``ops`` (recorded while ``name`` ran) hold a library convolution or
    pooling routine, or when the call started threads or processes (``spawned``: the recording sees only
    the calling thread); fail ``case`` when the call modified its inputs in place."""
    if spawned:
        checker.disqualify(f"the rule (no library convolution or pooling) cannot be verified: {name} started "
                           f"{', '.join(spawned)} while it ran, and the grader watches only the calling thread")
    used = forbidden_ops(ops)
    if used:
        checker.disqualify(f"{name} ran the library routine(s) {', '.join(used)}")
        case.fail(f"ran the library routine(s) {', '.join(used)}")
    case.expect(not mutated, f"modified its input(s) {mutated} in place (inputs must stay unchanged)")


# ----------------------------------------------------------------------------------------------
# No autograd inside a backward pass written by hand.

AUTOGRAD_MODULES = ("torch.autograd", "torch.func", "functorch", "torch._functorch", "torch._C")
AUTOGRAD_ATTRIBUTES = {"backward", "requires_grad_", "enable_grad", "set_grad_enabled", "autograd",
                       "jacrev", "jacfwd", "vjp", "jvp", "grad_and_value"}
AUTOGRAD_WORDS = set(AUTOGRAD_ATTRIBUTES) | {"requires_grad", "grad", "jacobian", "hessian", "func"}


def _is_autograd_module(name: str) -> bool:
    return any(name == module or name.startswith(module + ".") for module in AUTOGRAD_MODULES)


def _autograd_aliases(modules: list[ast.Module]) -> dict[str, str]:
    """Names bound anywhere in the notebook to an autograd module or to something imported from one."""
    aliases = {}
    for module in modules:
        for node in ast.walk(module):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if _is_autograd_module(node.module) or _is_autograd_module(full):
                        aliases[alias.asname or alias.name] = full
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if _is_autograd_module(alias.name):
                        aliases[alias.asname or alias.name.split(".")[0]] = alias.name
    aliases.pop("torch", None)  # `import torch.autograd` binds torch itself: its other uses are fine
    return aliases


def _autograd_in(node: ast.AST, aliases: dict[str, str]) -> list[str]:
    """References to autograd inside one definition."""

    def requires_grad(sub) -> str | None:
        if isinstance(sub, ast.Attribute) and sub.attr == "requires_grad" and isinstance(sub.ctx, ast.Store):
            return f"{_dotted(sub) or '.requires_grad'} = ..."
        if isinstance(sub, ast.keyword) and sub.arg == "requires_grad" and not (
                isinstance(sub.value, ast.Constant) and sub.value.value is False):
            return f"requires_grad={ast.unparse(sub.value)}"
        return None

    return _references(
        node, aliases,
        attribute_forbidden=lambda attr, dotted: attr in AUTOGRAD_ATTRIBUTES or _is_autograd_module(dotted),
        import_forbidden=lambda module, name: _is_autograd_module(f"{module}.{name}" if module else name),
        dynamic_forbidden=lambda called, text: called in ("eval", "exec") or (
            called in ("getattr", "__import__") and (text in AUTOGRAD_WORDS or "autograd" in text or "functorch" in text)),
        special=requires_grad)


def autograd_uses(cell_sources: list[str], entry_points: list[str]) -> list[str]:
    """Autograd referred to by ``entry_points`` or the notebook functions and classes they refer to.

    Returns ``"<function>: <reference>"`` strings, empty when the code is clean.
    """
    return _scan(cell_sources, entry_points, _autograd_aliases, _autograd_in)


# ----------------------------------------------------------------------------------------------
# What makes the rules above unverifiable: other threads or processes (the operator recording and the
# autograd watch see only the calling thread), and names built while the code runs.

CONCURRENCY_MODULES = ("threading", "_thread", "multiprocessing", "concurrent", "subprocess", "asyncio", "ctypes",
                       "resource", "importlib", "runpy")
OS_SPAWNING = re.compile(r"os\.(fork\w*|system|popen|exec\w*|spawn\w*|posix_spawn\w*)")
DYNAMIC_BUILTINS = {"eval", "exec", "compile", "__import__", "globals", "vars", "locals"}


def _concurrency_aliases(modules: list[ast.Module]) -> dict[str, str]:
    """Names bound anywhere in the notebook to a module that starts threads or processes (or loads code)."""
    aliases = {}
    for module in modules:
        for node in ast.walk(module):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in CONCURRENCY_MODULES:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in CONCURRENCY_MODULES:
                        aliases[alias.asname or alias.name.split(".")[0]] = alias.name
    return aliases


def _unverifiable_in(node: ast.AST, aliases: dict[str, str]) -> list[str]:
    """Threads, processes and names built at run time inside one definition."""

    def dynamic(sub) -> str | None:
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
            if sub.func.id in DYNAMIC_BUILTINS:
                return f"{sub.func.id}(...)"
            if sub.func.id in ("getattr", "setattr", "delattr") and len(sub.args) >= 2 and not (
                    isinstance(sub.args[1], ast.Constant) and isinstance(sub.args[1].value, str)):
                return f"{sub.func.id}(..., {ast.unparse(sub.args[1])}) (a name built at run time)"
        if isinstance(sub, ast.Attribute) and (OS_SPAWNING.fullmatch(_dotted(sub)) or _dotted(sub) in (
                "sys.modules", "sys._getframe", "operator.attrgetter", "operator.methodcaller")):
            return _dotted(sub)
        return None

    return _references(
        node, aliases,
        attribute_forbidden=lambda attr, dotted: dotted.split(".")[0] in CONCURRENCY_MODULES,
        import_forbidden=lambda module, name: (module or name).split(".")[0] in CONCURRENCY_MODULES,
        dynamic_forbidden=lambda called, text: False,
        special=dynamic)


def unverifiable_uses(cell_sources: list[str], entry_points: list[str]) -> list[str]:
    """What in ``entry_points`` (or the notebook functions they call) would let a routine run unseen: other
    threads or processes, code loaded or names built at run time. ``"<function>: <reference>"`` strings."""
    return _scan(cell_sources, entry_points, _concurrency_aliases, _unverifiable_in)


def require_verifiable(subject: Subject, checker: Checker, names: list[str], rule: str) -> None:
    """Zero the part, saying why, when the "by hand" ``rule`` cannot be verified for ``names``."""
    uses = unverifiable_uses(subject.cell_sources(), names)
    if uses:
        checker.disqualify(f"the rule ({rule}) cannot be verified: the code runs things the grader cannot watch ("
                           + "; ".join(uses) + "); write it as plain code in the notebook's cells")
