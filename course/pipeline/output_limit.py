"""A cell's outputs cut at a size, as they arrive: what keeps a flood of printing out of the notebook."""

from course.pipeline.submitted import note


def output_size(output) -> int:
    """Characters of one output (nbformat output node): its text, traceback or data."""
    if output.get("output_type") == "stream":
        return len(output.get("text", ""))
    if output.get("output_type") == "error":
        return sum(len(line) for line in output.get("traceback", [])) + len(output.get("evalue", ""))
    return sum(len(value) if isinstance(value, str) else len(str(value)) for value in output.get("data", {}).values())


def keep_within(outs: list, used: int, limit: int) -> int:
    """``outs``'s last output has just arrived after ``used`` characters of the cell's outputs: keep it, cut
    it to what is left of ``limit`` (a stream) or drop it, and add one note when the limit is reached.
    One message may hold far more than the limit (the kernel sends what was printed between flushes).
    Returns the characters used now."""
    if used >= limit:
        outs.pop()
        return used
    size = output_size(outs[-1])
    if used + size < limit:
        return used + size
    if outs[-1].get("output_type") == "stream":
        outs[-1].text = outs[-1].text[:limit - used]
    else:
        outs.pop()
    outs.append(note(f"The output of this cell was cut at {limit // 1000} kB; the rest was dropped (print less, "
                     "e.g. a summary every few hundred steps)."))
    return limit
