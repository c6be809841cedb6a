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

from course.grade.subject import code_cells

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


def _uses(node: ast.AST, aliases: dict[str, str]) -> list[str]:
    """Forbidden references inside one definition."""
    uses = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute):
            dotted = _dotted(sub)
            if ROUTINE.fullmatch(sub.attr) or MODULES.match(dotted) or (dotted and dotted.split(".")[0] in aliases):
                uses.append(dotted or f".{sub.attr}")
        elif isinstance(sub, ast.Name) and sub.id in aliases:
            uses.append(f"{sub.id} ({aliases[sub.id]})")
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in sub.names]
            module = getattr(sub, "module", None) or ""
            if any(ROUTINE.fullmatch(n) or MODULES.match(f"{module}.{n}" if module else n) for n in names):
                uses.append(f"import of {', '.join(names)}")
        elif (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in ("getattr", "__import__")
              and any(isinstance(a, ast.Constant) and isinstance(a.value, str)
                      and (ROUTINE.search(a.value) or MODULES.search(a.value)) for a in sub.args)):
            uses.append(f"{sub.func.id}(... {ast.unparse(sub.args[-1])} ...)")
    return uses


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
    uses = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute):
            dotted = _dotted(sub)
            if sub.attr in AUTOGRAD_ATTRIBUTES or _is_autograd_module(dotted) or \
                    (dotted and dotted.split(".")[0] in aliases):
                uses.append(dotted or f".{sub.attr}")
            elif sub.attr == "requires_grad" and isinstance(sub.ctx, ast.Store):
                uses.append(f"{dotted or '.requires_grad'} = ...")
        elif isinstance(sub, ast.Name) and sub.id in aliases:
            uses.append(f"{sub.id} ({aliases[sub.id]})")
        elif isinstance(sub, ast.keyword) and sub.arg == "requires_grad" and not (
                isinstance(sub.value, ast.Constant) and sub.value.value is False):
            uses.append(f"requires_grad={ast.unparse(sub.value)}")
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            module = getattr(sub, "module", None) or ""
            names = [f"{module}.{a.name}" if module else a.name for a in sub.names]
            if any(_is_autograd_module(name) for name in names):
                uses.append(f"import of {', '.join(names)}")
        elif (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in ("getattr", "__import__", "eval", "exec")
              and any(isinstance(a, ast.Constant) and isinstance(a.value, str)
                      and (a.value in AUTOGRAD_WORDS or "autograd" in a.value or "functorch" in a.value
                           or sub.func.id in ("eval", "exec"))
                      for a in sub.args)):
            uses.append(f"{sub.func.id}({', '.join(ast.unparse(a) for a in sub.args)})")
    return uses


def autograd_uses(cell_sources: list[str], entry_points: list[str]) -> list[str]:
    """Autograd referred to by ``entry_points`` or the notebook functions and classes they refer to.

    Returns ``"<function>: <reference>"`` strings, empty when the code is clean.
    """
    return _scan(cell_sources, entry_points, _autograd_aliases, _autograd_in)
