from tasks.stages.propagate import Run, runs


def test_one_keyframe_runs_backward_to_the_first_frame_and_forward_to_the_last():
    assert runs([1005], 1001, 1008) == [
        Run(1001, 1005, (1005,), True),
        Run(1005, 1008, (1005,), False),
    ]


def test_two_keyframes_share_the_run_between_them_and_every_frame_is_covered():
    r = runs([1006, 1002], 1001, 1008)
    assert r == [
        Run(1001, 1002, (1002,), True),
        Run(1002, 1006, (1002, 1006), False),
        Run(1006, 1008, (1006,), False),
    ]
    assert sorted({f for x in r for f in x.frames}) == list(range(1001, 1009))


def test_keyframes_on_the_ends_give_no_empty_runs():
    assert runs([1001, 1003], 1001, 1003) == [Run(1001, 1003, (1001, 1003), False)]
    assert runs([1001], 1001, 1001) == [Run(1001, 1001, (1001,), False)]
    assert runs([1003], 1001, 1003) == [Run(1001, 1003, (1003,), True)]
