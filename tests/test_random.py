"""Randomness as PyTorch's: gk.Generator, generator=, randint and multinomial (issue 8).

The numbers are not torch's (other generators), so these tests check what must hold
anyway: the API, distributions (seeded, so the tolerances are met or not, never flaky),
repeatability with a seed, and that a generator's stream is its own.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import backends

TORCH_DEFAULT_SEED = 67280421310721  # torch.Generator().initial_seed()


def _samplers(device):
    """One function per kind of draw that takes generator=, each drawing from `g`."""
    w = gk.tensor([1.0, 2.0, 0.0, 3.0], device=device)
    return [lambda g: gk.randn(3, generator=g, device=device),
            lambda g: gk.rand(2, 2, generator=g, device=device, dtype=gk.float64),
            lambda g: gk.randint(5, (4,), generator=g, device=device),
            lambda g: gk.randperm(6, generator=g, device=device),
            lambda g: gk.multinomial(w, 3, generator=g),
            lambda g: gk.multinomial(w, 5, replacement=True, generator=g),
            lambda g: F.dropout(gk.ones(8, device=device), generator=g)]


def _needs_strict():
    ok, reason = backends.availability("strict")
    if not ok:
        pytest.skip(reason)


# ---- Generator --------------------------------------------------------------------------
def test_generator_api_as_torch(device):
    g = gk.Generator(device=device)
    assert g.device == device and g.initial_seed() == TORCH_DEFAULT_SEED
    assert g.manual_seed(2147483647) is g and g.initial_seed() == 2147483647
    assert g.manual_seed(-1).initial_seed() == 2**64 - 1  # negatives mod 2**64, as torch's
    assert g.manual_seed(np.int64(5)).initial_seed() == 5
    s = g.seed()
    assert 0 <= s < 2**64 and g.initial_seed() == s
    assert device in repr(g)


@pytest.mark.parametrize("seed, error", [(1.5, TypeError), ("3", TypeError), (True, TypeError),
                                         (None, TypeError), (2**64, ValueError),
                                         (-2**63 - 1, ValueError)])
def test_seeds_are_checked_as_torch_checks_them(seed, error):
    with pytest.raises(error, match=str(seed) if error is ValueError else "int"):
        gk.Generator().manual_seed(seed)
    with pytest.raises(error):
        gk.manual_seed(seed)


def test_the_same_seed_repeats_the_draws(device):
    for sample in _samplers(device):
        a = sample(gk.Generator(device).manual_seed(11)).numpy()
        np.testing.assert_array_equal(sample(gk.Generator(device).manual_seed(11)).numpy(), a)
    assert not np.array_equal(gk.randn(8, generator=gk.Generator(device), device=device).numpy(),
                              gk.randn(8, generator=gk.Generator(device).manual_seed(1),
                                       device=device).numpy())


def test_manual_seed_returns_the_default_cpu_generator():
    g = gk.manual_seed(7)
    assert g is gk.default_generator and g.device == "cpu"
    assert g.initial_seed() == gk.initial_seed() == 7
    a = gk.randn(4).numpy()
    g.manual_seed(7)  # reseeding the object reseeds what gk.randn draws from
    np.testing.assert_array_equal(gk.randn(4).numpy(), a)
    s = gk.seed()
    assert gk.initial_seed() == s and gk.get_backend("cpu").default_generator.initial_seed() == s


def test_manual_seed_seeds_every_devices_default_generator(device):
    gk.manual_seed(5)
    default = backends.get_backend(device).default_generator
    assert default.device == device and default.initial_seed() == 5
    a = gk.randint(100, (6,), device=device).numpy()
    gk.manual_seed(5)
    np.testing.assert_array_equal(gk.randint(100, (6,), device=device).numpy(), a)


def test_get_state_and_set_state_repeat_the_draws(device):
    g = gk.Generator(device).manual_seed(1)
    gk.rand(3, generator=g, device=device)
    state = g.get_state()
    draws = [sample(g).numpy() for sample in _samplers(device)]
    assert g.set_state(state) is g
    for sample, d in zip(_samplers(device), draws):
        np.testing.assert_array_equal(sample(g).numpy(), d)
    other = gk.Generator(device).set_state(state)  # a state moves to another generator
    assert other.initial_seed() == 1
    for sample, d in zip(_samplers(device), draws):
        np.testing.assert_array_equal(sample(other).numpy(), d)
    default = backends.get_backend(device).default_generator  # and the default one's
    state = default.get_state()
    a = gk.randn(5, device=device).numpy()
    default.set_state(state)
    np.testing.assert_array_equal(gk.randn(5, device=device).numpy(), a)


def test_set_state_refuses_another_devices_state_and_other_objects(device):
    _needs_strict()
    with pytest.raises(gk.DeviceError, match=f"strict:device2.*{device}"):
        gk.Generator(device).set_state(gk.Generator("strict:device2").get_state())
    with pytest.raises(TypeError, match="get_state"):
        gk.Generator(device).set_state(b"\x00" * 8)


def test_a_generator_leaves_other_generators_and_the_default_alone(device):
    reference = gk.Generator(device).manual_seed(3)
    expected = [sample(reference).numpy() for sample in _samplers(device)]
    gk.manual_seed(0)
    expected_default = [gk.randn(2, device=device).numpy() for _ in expected]
    gk.manual_seed(0)
    g = gk.Generator(device).manual_seed(3)
    twin = gk.Generator(device).manual_seed(3)  # the same seed, drawn from more often
    for sample, e, e_default in zip(_samplers(device), expected, expected_default):
        sample(twin)
        sample(twin)
        np.testing.assert_array_equal(sample(g).numpy(), e)
        np.testing.assert_array_equal(gk.randn(2, device=device).numpy(), e_default)


def test_a_generator_draws_only_on_its_device(device):
    _needs_strict()
    g = gk.Generator("strict:device2")
    x = gk.ones(4, device=device)
    calls = [lambda: gk.randn(2, generator=g, device=device),
             lambda: gk.rand(2, generator=g, device=device),
             lambda: gk.randint(3, (2,), generator=g, device=device),
             lambda: gk.randperm(3, generator=g, device=device),
             lambda: gk.multinomial(x, 2, generator=g),
             lambda: F.dropout(x, generator=g)]
    for call in calls:
        with pytest.raises(gk.DeviceError, match=f"strict:device2.*{device}"):
            call()
    if device != "cpu":  # as torch's: device= is not taken from the generator
        with pytest.raises(gk.DeviceError, match=f"{device}.*cpu"):
            gk.randn(2, generator=gk.Generator(device))
    with pytest.raises(TypeError, match="Generator"):
        gk.randn(2, generator=np.random.default_rng(0), device=device)


def test_a_generator_needs_a_usable_device():
    with pytest.raises(gk.DeviceError, match="tpu"):
        gk.Generator(device="tpu")


# ---- randint, randperm, dropout ---------------------------------------------------------
def test_randint_takes_torchs_overloads(device):
    g = gk.Generator(device).manual_seed(0)
    a = gk.randint(27, (1000,), generator=g, device=device)
    assert a.dtype == gk.int64 and a.shape == (1000,) and a.device == device
    assert set(a.numpy().tolist()) == set(range(27))
    b = gk.randint(-5, 5, (10, 100), generator=g, device=device).numpy()
    assert b.shape == (10, 100) and b.min() == -5 and b.max() == 4
    for t in (gk.randint(high=3, size=(4,), device=device),
              gk.randint(low=1, high=3, size=[4], device=device),
              gk.randint(3, size=(2, 2), device=device)):
        assert t.dtype == gk.int64 and t.numpy().max() < 3
    f = gk.randint(0, 10, (50,), dtype=gk.float32, device=device, requires_grad=True)
    assert f.dtype == gk.float32 and f.requires_grad
    np.testing.assert_array_equal(f.detach().numpy(), np.round(f.detach().numpy()))
    assert gk.randint(0, 256, (8,), dtype=gk.uint8, device=device).dtype == gk.uint8


def test_randint_is_uniform(device):
    draws = gk.randint(2, 12, (50000,), generator=gk.Generator(device).manual_seed(4),
                       device=device).numpy()
    freq = np.bincount(draws, minlength=12)[2:] / draws.size
    np.testing.assert_allclose(freq, 0.1, atol=0.006)  # sd of a frequency ~ 0.0013


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((5, 3, (2,)), {}, ValueError, "low=5 must be less than high=3"),
    ((0, (2,)), {}, ValueError, "low=0 must be less than high=0"),
    ((3, 2), {}, TypeError, "size must be a tuple"),
    ((3,), {}, TypeError, "size must be a tuple"),
    ((3.5, (2,)), {}, TypeError, "float"),
    ((-3, 3, (2,)), {"dtype": gk.uint8}, ValueError, r"\[-3, 3\).*uint8"),
    ((3, (2,)), {"requires_grad": True}, TypeError, "floating-point"),
])
def test_randint_errors_name_the_values(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        gk.randint(*args, **kwargs)


def test_randperm_with_a_generator(device):
    p = gk.randperm(50, generator=gk.Generator(device).manual_seed(2), device=device)
    assert p.dtype == gk.int64 and sorted(p.numpy().tolist()) == list(range(50))


def test_dropout_with_a_generator(device):
    x = gk.ones(100, 100, device=device)
    a = F.dropout(x, 0.3, generator=gk.Generator(device).manual_seed(1)).numpy()
    b = F.dropout(x, 0.3, generator=gk.Generator(device).manual_seed(1)).numpy()
    np.testing.assert_array_equal(a, b)
    assert abs((a != 0).mean() - 0.7) < 0.02


# ---- multinomial -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_multinomial_with_replacement_follows_the_weights(device, dtype):
    w = np.array([[1.0, 0.0, 6.0, 3.0], [0.0, 0.0, 2.5, 0.0], [5.0, 5.0, 0.0, 0.0]], dtype=dtype)
    n = 20000
    g = gk.Generator(device).manual_seed(0)
    for weights in (w, w[0]):  # 2-D: one distribution per row; 1-D: one
        s = gk.multinomial(gk.tensor(weights, device=device), n, replacement=True, generator=g)
        assert s.dtype == gk.int64 and s.shape == weights.shape[:-1] + (n,)
        assert s.device == device
        rows = s.numpy().reshape(-1, n)
        freq = np.stack([np.bincount(r, minlength=4) for r in rows]) / n
        p = weights.reshape(-1, 4) / weights.reshape(-1, 4).sum(1, keepdims=True)
        np.testing.assert_allclose(freq, p, atol=0.015)  # sd of a frequency <= 0.0036
        assert (freq[p == 0] == 0).all()


def test_multinomial_without_replacement_draws_distinct_indices_in_draw_order(device):
    w = np.array([4.0, 0.0, 3.0, 2.0, 1.0])
    p = w / w.sum()
    rows = 20000
    weights = gk.tensor(np.tile(w, (rows, 1)).astype(np.float32), device=device)
    s = gk.multinomial(weights, 2, generator=gk.Generator(device).manual_seed(0)).numpy()
    assert s.shape == (rows, 2) and (s[:, 0] != s[:, 1]).all() and not (s == 1).any()
    # The first index follows p; the second follows p among the categories left:
    # P(second = j) = sum over i != j of p_i * p_j / (1 - p_i).
    second = np.array([sum(p[i] * p[j] / (1 - p[i]) for i in range(5) if i != j)
                       for j in range(5)])
    np.testing.assert_allclose(np.bincount(s[:, 0], minlength=5) / rows, p, atol=0.015)
    np.testing.assert_allclose(np.bincount(s[:, 1], minlength=5) / rows, second, atol=0.015)
    every = gk.multinomial(weights[:500], 4).numpy()  # all nonzero categories, each once
    assert (np.sort(every, axis=1) == [0, 2, 3, 4]).all()
    one = gk.multinomial(gk.tensor(w, device=device), 4).numpy()
    assert sorted(one.tolist()) == [0, 2, 3, 4]


def test_multinomial_of_empty_batches_and_one_hot_rows(device):
    assert gk.multinomial(gk.ones(0, 3, device=device), 2).shape == (0, 2)
    hot = gk.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], device=device)
    np.testing.assert_array_equal(gk.multinomial(hot, 5, True).numpy(), [[2] * 5, [0] * 5])


@pytest.mark.parametrize("weights, n, replacement, error, match", [
    ([-1.0, 1.0], 1, True, ValueError, "inf, nan or < 0"),
    ([float("nan"), 1.0], 1, False, ValueError, "inf, nan or < 0"),
    ([float("inf"), 1.0], 1, True, ValueError, "inf, nan or < 0"),
    ([[1.0, 0.0], [0.0, 0.0]], 1, True, ValueError, "row 1 of input sums to 0"),
    ([0.0, 0.0], 1, False, ValueError, "input sums to 0"),
    ([3e38, 3e38], 1, True, ValueError, "sums to inf"),
    ([1.0, 0.0, 0.0], 2, False, ValueError, "has 1 nonzero weights, fewer than num_samples=2"),
    ([1.0, 2.0, 3.0], 0, True, ValueError, "num_samples=0 must be positive"),
    ([1.0, 2.0, 3.0], 4, False, ValueError, "num_samples=4 without replacement from 3"),
    ([[[1.0]]], 1, True, ValueError, r"1-D or 2-D, not of shape \(1, 1, 1\)"),
    (1.0, 1, True, ValueError, "1-D or 2-D"),
    ([1, 2], 1, True, TypeError, "floating point, not int64"),
])
def test_multinomial_refuses_weights_that_are_no_distribution(weights, n, replacement, error,
                                                              match):
    with pytest.raises(error, match=match):
        gk.multinomial(gk.tensor(weights), n, replacement)


def test_multinomial_rows_that_are_no_distribution_on_every_device(backend, device):
    """Raised on the CPU; elsewhere an out-of-range index unless in debug mode."""
    weights = gk.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [float("nan"), 1.0, 1.0],
                         [-1.0, 2.0, 1.0], [float("inf"), 1.0, 0.0]], device=device)
    for replacement in (True, False):
        if backend.checks_bounds_cheaply:
            with pytest.raises(ValueError, match="row 2 .* inf, nan or < 0"):
                gk.multinomial(weights, 1, replacement)
        else:
            s = gk.multinomial(weights, 1, replacement).numpy()
            np.testing.assert_array_equal(s, [[0], [3], [3], [3], [3]])
    if not backend.checks_bounds_cheaply:
        s = gk.multinomial(weights[:1], 2).numpy()  # one nonzero weight, two draws
        np.testing.assert_array_equal(s, [[3, 3]])
    gk.set_debug(True)
    try:
        with pytest.raises(ValueError, match="row 2 .* inf, nan or < 0"):
            gk.multinomial(weights, 1, True)
        with pytest.raises(ValueError, match="row 1 of input sums to 0"):
            gk.multinomial(weights[:2], 1, True)
        with pytest.raises(ValueError, match="fewer than num_samples=2"):
            gk.multinomial(weights[:1], 2)
    finally:
        gk.set_debug(False)


def test_draws_on_strict_never_read_the_device():
    """With every host conversion of a strict array refused, all draws still run: the
    random numbers go host -> device (strict's source is NumPy), never device -> host."""
    _needs_strict()
    device = backends.default_device("strict")
    backend = backends.get_backend(device)
    g = gk.Generator(device).manual_seed(0)
    weights = gk.rand(4, 6, device=device) * (gk.rand(4, 6, device=device) > 0.3)
    weights[:, 0] = 1.0
    with backend.no_host_sync():
        for sample in _samplers(device):
            sample(g)
        gk.multinomial(weights, 8, replacement=True, generator=g)
        gk.multinomial(weights, 1, generator=g)
        g.set_state(g.get_state())


def test_multinomial_refusals_agree_with_torch():
    torch = pytest.importorskip("torch")
    for weights in ([-1.0, 1.0], [float("nan"), 1.0], [[1.0, 0.0], [0.0, 0.0]]):
        with pytest.raises(RuntimeError):
            torch.multinomial(torch.tensor(weights), 1, True)
        with pytest.raises(ValueError):
            gk.multinomial(gk.tensor(weights), 1, True)


# ---- Karpathy's makemore, lecture 1 -------------------------------------------------------
def test_makemore_lecture_1_runs_with_gradkit_as_torch():
    import gradkit as torch

    g = torch.Generator().manual_seed(2147483647)
    p = torch.rand(3, generator=g)
    p = p / p.sum()
    ix = torch.multinomial(p, num_samples=100, replacement=True, generator=g)
    assert ix.shape == (100,) and ix.dtype == torch.int64 and set(ix.tolist()) <= {0, 1, 2}
    xs = torch.randint(0, 27, (32,), generator=g)
    ys = torch.randint(0, 27, (32,), generator=g)
    assert xs.dtype == torch.int64 and 0 <= xs.numpy().min() and xs.numpy().max() < 27
    W = torch.randn((27, 27), generator=g, requires_grad=True)
    assert W.shape == (27, 27) and W.requires_grad and W.is_leaf and W.dtype == torch.float32

    # one step of the bigram network (the lecture one-hot encodes with F.one_hot, which
    # gradkit lacks so far: rows of the identity are the same)
    xenc = torch.eye(27)[xs].float()
    counts = (xenc @ W).exp()
    probs = counts / counts.sum(1, keepdims=True)
    loss = -probs[torch.arange(32), ys].log().mean() + 0.01 * (W**2).mean()
    W.grad = None
    loss.backward()
    W.data += -50 * W.grad
    assert np.isfinite(loss.item()) and W.grad.shape == (27, 27)

    # sampling names, as the lecture does: the same seed gives the same names
    def names(seed):
        g = torch.Generator().manual_seed(seed)
        P = torch.rand(27, 27, generator=g) + 0.1
        P = P / P.sum(1, keepdims=True)
        out = []
        for _ in range(5):
            ix, name = 0, []
            while True:
                ix = torch.multinomial(P[ix], num_samples=1, replacement=True, generator=g).item()
                if ix == 0:
                    break
                name.append(ix)
            out.append(name)
        return out

    assert names(2147483647) == names(2147483647)
