"""Running student code confined: a Jupyter kernel that sees only what grading needs.

Outside in: :mod:`.bubblewrap` (namespaces: its own processes, no network, a filesystem of the allow-list,
an unprivileged uid of its own), :mod:`.kernel` (the launcher inside: limits, then :mod:`.landlock`), and
:mod:`.manager`, the Jupyter kernel manager that starts it and says which layers a machine offers. Each
module's docstring says what its layer stops and what it does not.
"""
