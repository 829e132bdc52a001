"""Generators, use_generator and manual_seed make initialisation and dropout repeatable."""

import json
import re
import threading

import numpy as np
import pytest

from azuraforge.core import Generator, Tensor, manual_seed, nn, use_generator
from azuraforge.core import functional as F
from azuraforge.core.random import current_generator, default_generator, fork_rng, generator
from azuraforge.errors import InvalidParameterError


def test_manual_seed_replays_the_same_draws():
    manual_seed(3)
    first = generator().random(4)
    manual_seed(3)
    np.testing.assert_array_equal(generator().random(4), first)
    manual_seed(4)
    assert not np.array_equal(generator().random(4), first)


def test_manual_seed_makes_models_and_dropout_repeatable():
    def build_and_drop():
        manual_seed(11)
        layer = nn.Linear(4, 3)
        return layer.weight.data, F.dropout(Tensor(np.ones(20)), p=0.5).data

    weights_a, mask_a = build_and_drop()
    weights_b, mask_b = build_and_drop()
    np.testing.assert_array_equal(weights_a, weights_b)
    np.testing.assert_array_equal(mask_a, mask_b)


def test_a_generator_replays_its_seed_and_its_saved_state():
    gen = Generator(7)
    first = gen.numpy_generator.random(4)
    np.testing.assert_array_equal(first, np.random.default_rng(7).random(4))
    state = gen.get_state()
    after = gen.numpy_generator.random(4)
    gen.set_state(state)
    np.testing.assert_array_equal(gen.numpy_generator.random(4), after)
    assert gen.manual_seed(7) is gen
    np.testing.assert_array_equal(gen.numpy_generator.random(4), first)


def test_a_state_given_or_taken_stays_the_callers():
    gen = Generator(3)
    state = gen.get_state()
    gen.set_state(state)
    state["state"]["state"] += 1
    gen.get_state()["state"]["state"] += 1
    np.testing.assert_array_equal(
        gen.numpy_generator.random(4), Generator(3).numpy_generator.random(4)
    )


def test_a_generator_state_is_plain_data():
    state = Generator(1).get_state()
    assert json.loads(json.dumps(state)) == state


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_seeds_must_be_non_negative_ints(seed):
    with pytest.raises(
        InvalidParameterError, match=re.escape(f"Generator needs an int >= 0, got {seed!r}")
    ):
        Generator(seed)
    with pytest.raises(InvalidParameterError, match=r"Generator\.manual_seed needs an int >= 0"):
        Generator().manual_seed(seed)
    with pytest.raises(InvalidParameterError, match=r"^manual_seed needs an int >= 0"):
        manual_seed(seed)


@pytest.mark.parametrize("state", [3, {"bit_generator": "MT19937"}])
def test_set_state_refuses_what_get_state_did_not_return(state):
    with pytest.raises(
        InvalidParameterError, match=r"needs a state from Generator\.get_state\(\)"
    ):
        Generator().set_state(state)


def test_use_generator_refuses_a_numpy_generator():
    message = r"got numpy\.random\..*Generator; make one with Generator\(seed\)"
    with (
        pytest.raises(InvalidParameterError, match=message),
        use_generator(np.random.default_rng(0)),
    ):
        pass


def test_initialisation_and_dropout_draw_from_the_generator_in_use():
    def build_and_drop():
        layer = nn.Linear(4, 3)
        return layer.weight.data, F.dropout(Tensor(np.ones(20)), p=0.5).data

    with use_generator(Generator(11)):
        weights_a, mask_a = build_and_drop()
    with use_generator(Generator(11)):
        weights_b, mask_b = build_and_drop()
    np.testing.assert_array_equal(weights_a, weights_b)
    np.testing.assert_array_equal(mask_a, mask_b)


def test_a_run_under_use_generator_leaves_the_default_stream_untouched():
    manual_seed(5)
    expected = generator().random(6)
    manual_seed(5)
    head = generator().random(3)
    with use_generator(Generator(0)) as gen:
        assert current_generator() is gen
        nn.Linear(8, 8)
        F.dropout(Tensor(np.ones(50)), p=0.5)
        generator().random(10)
    assert current_generator() is default_generator
    np.testing.assert_array_equal(np.concatenate([head, generator().random(3)]), expected)


def test_manual_seed_reseeds_the_default_even_inside_use_generator():
    with use_generator(Generator(0)):
        manual_seed(1)
        np.testing.assert_array_equal(generator().random(3), np.random.default_rng(0).random(3))
    np.testing.assert_array_equal(generator().random(3), np.random.default_rng(1).random(3))


def test_use_generator_blocks_nest():
    outer, inner = Generator(0), Generator(1)
    with use_generator(outer):
        with use_generator(inner):
            assert current_generator() is inner
        assert current_generator() is outer
    assert current_generator() is default_generator


def test_a_new_thread_starts_on_the_default_generator():
    seen = []
    with use_generator(Generator(0)):
        thread = threading.Thread(target=lambda: seen.append(current_generator()))
        thread.start()
        thread.join()
    assert seen == [default_generator]


def test_fork_rng_restores_the_generator_in_use():
    with use_generator(Generator(3)):
        with fork_rng():
            generator().random(5)
        np.testing.assert_array_equal(generator().random(2), np.random.default_rng(3).random(2))
