from rotoflow.stages.propagate import _intervals


def runs(keys, first, last):
    return [(d, k, fr) for d, k, fr in _intervals(keys, first, last) if fr]


def test_one_keyframe_runs_to_both_ends_of_the_plate():
    assert runs([1005], 1001, 1008) == [
        ("forward", 1005, [1006, 1007, 1008]),
        ("backward", 1005, [1004, 1003, 1002, 1001]),
    ]


def test_two_keyframes_meet_between_them_and_each_frame_is_reached_from_both_sides():
    r = runs([1002, 1006], 1001, 1008)
    assert r == [
        ("forward", 1002, [1003, 1004, 1005]),
        ("backward", 1002, [1001]),
        ("forward", 1006, [1007, 1008]),
        ("backward", 1006, [1005, 1004, 1003]),
    ]
    covered = sorted({f for _, _, fr in r for f in fr} | {1002, 1006})
    assert covered == list(range(1001, 1009))


def test_keyframes_on_the_ends_and_adjacent_frames_leave_no_empty_runs():
    assert runs([1001, 1002], 1001, 1003) == [("forward", 1002, [1003])]
