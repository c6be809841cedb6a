"""Argument normalisation shared by the reference layers."""


def pair(value, name: str) -> tuple[int, int]:
    """``value`` as a pair of ints: an int ``k`` becomes ``(k, k)``; a pair is kept.

    Raises ``ValueError`` naming ``name`` when ``value`` is neither an int nor a pair of ints.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return int(value[0]), int(value[1])
    raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
