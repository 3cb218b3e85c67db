"""gk.DataLoader on every backend: coverage of the data, order, seeds, last-batch handling
and keeping the data on the device."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk

X = np.arange(20, dtype=np.float32).reshape(10, 2)
Y = np.arange(10, dtype=np.int64)


def batches(loader):
    return [tuple(t.numpy() for t in batch) for batch in loader]


def test_unshuffled_batches_in_order_with_a_short_last_batch(device):
    loader = gk.DataLoader(X, Y, batch_size=4, device=device)
    assert len(loader) == 3
    got = batches(loader)
    assert [len(y) for _, y in got] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([x for x, _ in got]), X)
    np.testing.assert_array_equal(np.concatenate([y for _, y in got]), Y)
    for batch in loader:
        assert all(t.device == device for t in batch)
        assert batch[0].dtype == gk.float32 and batch[1].dtype == gk.int64


def test_drop_last(device):
    loader = gk.DataLoader(X, Y, batch_size=4, drop_last=True, shuffle=True, seed=0,
                           device=device)
    assert len(loader) == 2
    got = batches(loader)
    assert [len(y) for _, y in got] == [4, 4]
    assert len(set(np.concatenate([y for _, y in got]))) == 8
    assert len(gk.DataLoader(X, batch_size=5, drop_last=True)) == 2


def test_shuffle_is_a_permutation_that_keeps_rows_together(device):
    loader = gk.DataLoader(X, Y, batch_size=3, shuffle=True, seed=1, device=device)
    got = batches(loader)
    ys = np.concatenate([y for _, y in got])
    xs = np.concatenate([x for x, _ in got])
    assert sorted(ys) == list(Y) and not (ys == Y).all()
    np.testing.assert_array_equal(xs, X[ys])  # every x stays with its y


def test_seed_repeats_and_epochs_differ(device):
    def order(loader):
        return np.concatenate([y for (y,) in batches(loader)])

    a = gk.DataLoader(Y, batch_size=4, shuffle=True, seed=7, device=device)
    b = gk.DataLoader(Y, batch_size=4, shuffle=True, seed=7, device=device)
    first, second = order(a), order(a)
    assert not (first == second).all()  # a new order each epoch
    np.testing.assert_array_equal(order(b), first)
    np.testing.assert_array_equal(order(b), second)
    # the same seed gives the same batches on every device
    cpu = gk.DataLoader(Y, batch_size=4, shuffle=True, seed=7)
    np.testing.assert_array_equal(order(cpu), first)


def test_unseeded_shuffle_uses_the_device_generator(device):
    def order():
        loader = gk.DataLoader(Y, batch_size=10, shuffle=True, device=device)
        return next(iter(loader))[0].numpy()

    gk.manual_seed(3)
    first = order()
    gk.manual_seed(3)
    np.testing.assert_array_equal(order(), first)


def test_data_moves_to_the_device_once(device):
    source = gk.tensor(X, requires_grad=True)
    loader = gk.DataLoader(source, Y, batch_size=4, device=device)
    assert all(t.device == device for t in loader.tensors)
    assert not loader.tensors[0].requires_grad  # data is not part of any graph
    held = [t.array for t in loader.tensors]
    list(loader), list(loader)
    assert [t.array for t in loader.tensors] == held  # nothing re-uploaded per epoch
    x0 = next(iter(gk.DataLoader(X, batch_size=10)))[0]
    assert x0.device == "cpu"  # NumPy data without device= stays on the CPU


def test_errors():
    with pytest.raises(ValueError, match="same length"):
        gk.DataLoader(X, Y[:5])
    with pytest.raises(ValueError, match="batch_size"):
        gk.DataLoader(X, batch_size=0)
    with pytest.raises(ValueError, match="at least one"):
        gk.DataLoader()
    with pytest.raises(ValueError, match="leading"):
        gk.DataLoader(np.float32(1.0))
    assert "batch_size=2" in repr(gk.DataLoader(X, batch_size=2))


@pytest.mark.parametrize("shuffle", [False, True], ids=["in_order", "shuffled"])
def test_batches_are_copies_that_never_write_back(device, shuffle):
    # As PyTorch's collate: changing a batch in place leaves the data (and later epochs) alone.
    x = X.copy()
    data = gk.tensor(X, device=device)
    for source in (x, data):
        loader = gk.DataLoader(source, batch_size=4, shuffle=shuffle, seed=0, device=device)
        for (xb,) in loader:
            xb -= 100.0
        np.testing.assert_array_equal(np.sort(np.concatenate(
            [b.numpy() for (b,) in loader]), axis=0), X)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(data.numpy(), X)


def test_loader_keeps_the_callers_data_without_a_copy(device):
    # As PyTorch's TensorDataset: data already on the device is held, not copied, so a
    # change the caller makes to it shows in the next epoch (documented in the docstring).
    data = gk.tensor(X, device=device)
    loader = gk.DataLoader(data, batch_size=10, device=device)
    with gk.no_grad():
        data += 1.0
    np.testing.assert_array_equal(next(iter(loader))[0].numpy(), X + 1.0)


# ---- DistributedSampler -------------------------------------------------------------------
def test_distributed_sampler_shards_are_disjoint_equal_and_cover():
    for n, replicas in [(10, 2), (10, 3), (7, 4), (3, 5)]:
        shards = [gk.data.DistributedSampler(n, replicas, r, seed=3) for r in range(replicas)]
        indices = [s.indices() for s in shards]
        assert len({len(i) for i in indices}) == 1 == len({len(s) for s in shards})
        everything = np.concatenate(indices)
        assert set(everything.tolist()) == set(range(n))
        assert len(everything) == -(-n // replicas) * replicas  # padded by < one round
        dropped = np.concatenate([gk.data.DistributedSampler(n, replicas, r, drop_last=True)
                                  .indices() for r in range(replicas)])
        assert len(set(dropped.tolist())) == len(dropped) == n - n % replicas


def test_distributed_sampler_global_batches_are_one_process_batches(device):
    """Batch k of every rank together = batch k of one process with N times the batch,
    shuffled with the same seed: what makes N ranks take the steps of one process."""
    n, replicas, b = 24, 3, 2
    single = batches(gk.DataLoader(np.arange(n), batch_size=replicas * b,
                                   shuffle=True, seed=5, device=device))
    ranks = [batches(gk.DataLoader(np.arange(n), batch_size=b, device=device,
                                   sampler=gk.data.DistributedSampler(n, replicas, r, seed=5)))
             for r in range(replicas)]
    for k, (whole,) in enumerate(single):
        together = np.concatenate([ranks[r][k][0] for r in range(replicas)])
        assert sorted(together.tolist()) == sorted(whole.tolist())


def test_distributed_sampler_epochs_and_seeds():
    s = gk.data.DistributedSampler(50, 2, 0, seed=1)
    first = s.indices()
    np.testing.assert_array_equal(s.indices(), first)  # same epoch, same order
    s.set_epoch(1)
    assert not np.array_equal(s.indices(), first)
    other = gk.data.DistributedSampler(50, 2, 0, seed=2)
    assert not np.array_equal(other.indices(), first)
    assert list(gk.data.DistributedSampler(5, 2, 1, shuffle=False)) == [1, 3, 0]


def test_distributed_sampler_matches_pytorch_without_shuffle():
    torch_data = pytest.importorskip("torch.utils.data.distributed")
    for n, replicas, drop in [(10, 3, False), (10, 3, True), (7, 4, False), (8, 2, False)]:
        for r in range(replicas):
            ours = list(gk.data.DistributedSampler(n, replicas, r, shuffle=False,
                                                   drop_last=drop))
            theirs = list(torch_data.DistributedSampler(range(n), replicas, r, shuffle=False,
                                                        drop_last=drop))
            assert ours == theirs, (n, replicas, r, drop)


def test_distributed_sampler_errors():
    with pytest.raises(ValueError, match=r"rank 2 is not in \[0, 2\)"):
        gk.data.DistributedSampler(10, 2, 2)
    with pytest.raises(ValueError, match="empty"):
        gk.data.DistributedSampler(0, 2, 0)
    with pytest.raises(RuntimeError, match="init_process_group"):
        gk.data.DistributedSampler(10)
    with pytest.raises(ValueError, match="exclude each other"):
        gk.DataLoader(X, shuffle=True, sampler=gk.data.DistributedSampler(10, 1, 0))


def test_dataloader_with_any_sampler(device):
    loader = gk.DataLoader(X, Y, batch_size=2, sampler=[9, 0, 3], device=device)
    assert len(loader) == 2
    assert [y.tolist() for _, y in batches(loader)] == [[9, 0], [3]]
    with pytest.raises(IndexError, match="outside the 10 examples"):
        list(gk.DataLoader(X, batch_size=2, sampler=[10], device=device))
