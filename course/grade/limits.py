"""How long grading one part may take, scaled to what grading the reference solution takes.

``reference_seconds.json`` (beside this module; ``bench/reference_seconds.py`` measures it on one core)
holds, per part, the seconds that grading the instructor's solution takes. A student's code may take
``FACTOR`` times as long (plain Python loops are far slower than the vectorised reference, and still
earn full marks), but never less than ``FLOOR`` seconds: a part whose code hangs costs that time and no
more. Parts that re-run a training procedure are bounded tighter, relative to their longer time.
"""

import functools
import json
import os

FLOOR = {"probes": 30.0, "weights": 60.0, "procedure": 120.0}  # seconds, by the kind of the part
FACTOR = {"probes": 25.0, "weights": 10.0, "procedure": 5.0}
REFERENCE_SECONDS = os.path.join(os.path.dirname(__file__), "reference_seconds.json")


@functools.cache
def reference_seconds() -> dict[str, float]:
    """Part id -> seconds grading the reference solution takes on one core (empty when not measured)."""
    if not os.path.exists(REFERENCE_SECONDS):
        return {}
    with open(REFERENCE_SECONDS) as f:
        return {str(part): float(seconds) for part, seconds in json.load(f)["seconds"].items()}


def part_limit(part_id: str, kind: str) -> float:
    """The seconds all the probes of part ``part_id`` (of ``kind``) may take together."""
    return max(FLOOR[kind], FACTOR[kind] * reference_seconds().get(part_id, 0.0))
