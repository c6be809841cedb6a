"""A cell's outputs are cut at a size as they arrive, however the kernel batches what was printed."""

import nbformat

from course.pipeline.output_limit import keep_within

LIMIT = 1000


def received(*outputs) -> list:
    """The cell's outputs after ``outputs`` arrived one by one."""
    outs, used = [], 0
    for output in outputs:
        outs.append(output)
        used = keep_within(outs, used, LIMIT)
    return outs


def printed(text: str):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_is_one_message_far_over_the_limit_cut_to_the_limit():
    outs = received(printed("x" * 60 * LIMIT))
    assert len(outs) == 2 and outs[0].text == "x" * LIMIT and "was cut at 1 kB" in outs[1].text


def test_are_outputs_after_the_limit_dropped_with_one_note():
    outs = received(*[printed("y" * 300) for _ in range(10)])
    assert sum(len(o.text) for o in outs[:-1]) == LIMIT and "was cut at" in outs[-1].text
    assert sum("was cut at" in o.text for o in outs) == 1


def test_is_a_picture_over_the_limit_dropped():
    picture = nbformat.v4.new_output("display_data", data={"image/png": "A" * 2 * LIMIT})
    outs = received(printed("first"), picture)
    assert outs[0].text == "first" and len(outs) == 2 and "was cut at" in outs[1].text


def test_does_output_under_the_limit_stay_whole():
    assert [o.text for o in received(printed("a" * 10), printed("b" * 10))] == ["a" * 10, "b" * 10]
