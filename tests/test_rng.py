import numpy as np
import pytest

from abcspark.rng import PILOT, SIMULATION, batch_rng, check_seed, split_rng


def test_same_key_same_stream():
    np.testing.assert_array_equal(batch_rng(3, 1, 7).random(5), batch_rng(3, 1, 7).random(5))


@pytest.mark.parametrize(
    "other", [(4, 1, 7, SIMULATION), (3, 2, 7, SIMULATION), (3, 1, 8, SIMULATION), (3, 1, 7, PILOT)]
)
def test_every_key_part_changes_the_stream(other):
    assert not np.array_equal(batch_rng(3, 1, 7).random(5), batch_rng(*other).random(5))


def test_seed_checks():
    assert check_seed(5) == 5
    assert check_seed(np.int64(5)) == 5
    assert check_seed(None) >= 0
    with pytest.raises(TypeError, match="seed must be a non-negative int"):
        check_seed("5")
    with pytest.raises(TypeError, match="seed must be a non-negative int"):
        check_seed(True)
    with pytest.raises(ValueError, match=r"seed must be a non-negative int \(got -1\)"):
        check_seed(-1)


def test_split_rng_parts_are_the_same_whoever_draws_them():
    parent = batch_rng(3, 1, 7)
    parts = [g.random(4) for g in split_rng(parent, 3)]
    after = parent.random(2)
    for rank in range(3):
        rng = batch_rng(3, 1, 7)
        np.testing.assert_array_equal(split_rng(rng, 3)[rank].random(4), parts[rank])
        np.testing.assert_array_equal(rng.random(2), after)  # the parent advanced alike
    assert len({part.tobytes() for part in parts}) == 3
    np.testing.assert_array_equal(split_rng(batch_rng(3, 1, 7), 5)[1].random(4), parts[1])
    assert not np.array_equal(split_rng(batch_rng(4, 1, 7), 3)[0].random(4), parts[0])
