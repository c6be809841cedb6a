"""How close a student's tensor must be to the reference's, by the student's dtype.

Results are compared with float64 references, entry by entry, within ``atol + rtol * |expected|``.
"""

import torch

# float32: sums of a few hundred float32 products (or a dozen recurrent steps of products and sigmoids)
# carry relative errors near 1e-6, so 1e-4 leaves room for any order of operations.
FLOAT32 = {"rtol": 1e-4, "atol": 1e-4}
# float64: any correct order of operations agrees to ~1e-12 on the graders' sizes; 1e-7 still catches
# every real bug (a wrong or missing term changes values at the 1e-2 level or more).
FLOAT64 = {"rtol": 1e-7, "atol": 1e-9}


def for_dtype(dtype) -> dict:
    """The tolerance of results in ``dtype`` (float32 and below get :data:`FLOAT32`)."""
    return FLOAT64 if dtype == torch.float64 else FLOAT32
