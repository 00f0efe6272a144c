import numpy as np
import pytest

from abcspark.rng import PILOT, SIMULATION, batch_rng, check_seed


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
