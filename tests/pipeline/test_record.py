"""Does a grading record come back from its file as it was written?"""

from course.pipeline.record import CellRecord, FailedCheck, GradingRecord, PartRecord, read_records


def test_does_a_record_round_trip_through_its_file(tmp_path):
    record = GradingRecord("ann", "hw2", "hw2_cnn", 12.5, 1, False, False, ["test_step"], [
        CellRecord("test_conv2d_forward", 4.0, 4.0, [PartRecord("hw2_cnn.conv2d_forward", "graded", 1.0, "", 0.8)]),
        CellRecord("test_step", 0.0, 2.0, [PartRecord("hw2_cnn.step", "graded", 0.0, "", 0.1, [
            FailedCheck("the first step updates the weights", "weight after step 1: largest error 0.5")])])])
    path = record.write(str(tmp_path))
    assert path == str(tmp_path / "hw2" / "ann" / "hw2_cnn.json")
    assert read_records(str(tmp_path), "hw2", "ann") == [record]
    assert (record.points, record.max_points) == (4.0, 6.0)
    assert read_records(str(tmp_path), "hw2", "nobody") == []
