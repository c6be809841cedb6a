"""Are a test cell's points shared among its parts as their graders declare, and capped?"""

import pytest

from course.pipeline.points import cell_total, shares


def test_are_points_shared_in_proportion_to_the_declared_points():
    assert shares(6, [4, 2]) == [4, 2]
    assert shares(3, [4, 2]) == [2, 1]
    assert shares(2, [1]) == [2]
    assert shares(5, []) == []


def test_is_the_cell_total_capped_and_rounded_to_hundredths():
    assert cell_total([1.234, 2.0], 10) == 3.23
    assert cell_total([4.0, 4.0], 6) == 6
    assert cell_total([], 2) == 0


@pytest.mark.parametrize("earned", [[0.333, 0.333, 0.334], [1 / 3, 1 / 3, 1 / 3]])
def test_do_thirds_add_up_to_the_whole(earned):
    assert cell_total(earned, 1) == 1.0
