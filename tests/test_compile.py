"""gk.compile: a recorded and replayed step gives the eager step's numbers, bit for bit.

Each case builds the same model twice from one seed, trains one eagerly and one through
gk.compile on the same batches, and compares the losses, the parameters, the gradients
and the buffers exactly after every step (the replays included). Then the guards, the
host ops (learning-rate schedules, random draws) and what the recorder refuses.
"""

import copy
import importlib.util
import os
import sys

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import nn, optim

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")


def _example(name):
    key = f"_compile_test_{name}"
    if key not in sys.modules:
        if EXAMPLES not in sys.path:
            sys.path.append(EXAMPLES)
        spec = importlib.util.spec_from_file_location(key, os.path.join(EXAMPLES, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def _state(model, opt):
    arrays = [p.array.copy() for p in model.parameters()]
    arrays += [None if p.grad is None else p.grad.array.copy() for p in model.parameters()]
    arrays += [b.array.copy() for b in model.buffers()]
    for s in opt.state.values():
        arrays += [v.array.copy() if isinstance(v, gk.Tensor) else v for v in s.values()]
    return arrays


def _assert_same(a, b, what):
    assert len(a) == len(b), what
    for i, (x, y) in enumerate(zip(a, b)):
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, (what, i)
            assert np.array_equal(x, y, equal_nan=True), (what, i, np.abs(x - y).max())
        else:
            assert x == y, (what, i, x, y)


def _training_step(model, opt, sched, loss_fn):
    def step(*batch):
        opt.zero_grad()
        loss = loss_fn(model, *batch)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        return loss
    return step


def _train_both(make, batches, loss_fn, steps=8, schedule=None, seed=0):
    """Train make()'s (model, optimizer) eagerly and compiled on the same batches; compare
    everything after each step. Returns the compiled step (for its stats)."""
    results = []
    for compiled in (False, True):
        gk.manual_seed(seed)
        model, opt = make()
        step = _training_step(model, opt, schedule(opt) if schedule else None, loss_fn)
        run = gk.compile(step) if compiled else step
        gk.manual_seed(seed + 1)  # the same random draws (dropout) in both runs
        trace = []
        for i in range(steps):
            loss = run(*batches(i))
            trace.append((loss.array.copy(), _state(model, opt)))
        results.append((trace, run))
    (eager, _), (replayed, run) = results
    for i, ((l1, s1), (l2, s2)) in enumerate(zip(eager, replayed)):
        _assert_same([l1], [l2], f"loss at step {i}")
        _assert_same(s1, s2, f"state after step {i}")
    assert run.stats["replayed"] >= steps - 3, run.stats
    return run


def _fixed(*arrays):
    return lambda i: arrays


def _fresh_batches(shape_x, classes):
    def batches(i):  # batch i: the same in both runs
        rng = np.random.default_rng((5, i))
        x = gk.tensor(rng.standard_normal(shape_x).astype(np.float32))
        y = gk.tensor(rng.integers(0, classes, shape_x[0]))
        return x, y
    return batches


def test_mlp_sgd_momentum_bit_identical():
    def make():
        model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 4))
        return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                                weight_decay=1e-3)

    _train_both(make, _fresh_batches((16, 6), 4),
                lambda m, x, y: F.cross_entropy(m(x), y))


def test_adamw_with_a_schedule_reads_the_current_learning_rate():
    def make():
        model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))
        return model, optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.1)

    batches = _fresh_batches((12, 5), 2)
    run = _train_both(make, lambda i: (batches(i)[0], gk.ones(12, 1)),
                      lambda m, x, y: F.mse_loss(m(x), y), steps=10,
                      schedule=lambda opt: optim.lr_scheduler.StepLR(opt, 2, gamma=0.5))
    assert run.stats == {"eager": 1, "recorded": 1, "verified": 1, "replayed": 7}


def test_dropout_draws_fresh_numbers_at_every_replay():
    def make():
        model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 3))
        return model, optim.SGD(model.parameters(), lr=0.05)

    x = gk.randn(10, 8)
    y = gk.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    _train_both(make, _fixed(x, y), lambda m, x, y: F.cross_entropy(m(x), y))
    # and the masks differ between replays: the same batch gives different losses
    gk.manual_seed(0)
    model, opt = make()
    step = gk.compile(lambda x, y: F.cross_entropy(model(x), y))
    with gk.no_grad():
        losses = {step(x, y).item() for _ in range(6)}
    assert len(losses) == 6


@pytest.mark.parametrize("name", ["mlp", "bn", "wavenet"])
def test_makemore_models_bit_identical(name):
    makemore = _example("makemore")
    block = 8 if name == "wavenet" else 3

    def make():
        model = makemore.build_model(name, 27, block, 10, 64)
        return model, optim.SGD(model.parameters(), lr=0.1)

    def batches(i):
        rng = np.random.default_rng((1, i))
        return (gk.tensor(rng.integers(0, 27, (32, block))),
                gk.tensor(rng.integers(0, 27, 32)))

    _train_both(make, batches, lambda m, x, y: F.cross_entropy(m(x), y))


def test_gpt_example_bit_identical():
    gpt = _example("gpt")

    def make():
        model = gpt.GPT(vocab_size=20, block_size=8, n_embd=16, n_head=2, n_layer=2,
                        dropout=0.1)
        return model, model.configure_optimizers(0.1, 1e-3, (0.9, 0.99))

    def batches(i):
        rng = np.random.default_rng((2, i))
        idx = rng.integers(0, 20, (4, 9))
        return gk.tensor(idx[:, :-1]), gk.tensor(idx[:, 1:])

    _train_both(make, batches, lambda m, x, y: m(x, y)[1], steps=6)


def test_batchnorm_running_statistics_and_eval_mode_are_guarded():
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 2))
    twin = copy.deepcopy(model)
    x = gk.randn(16, 4)

    def forward(m):
        return m(x).sum()

    step = gk.compile(forward)
    for _ in range(5):
        with gk.no_grad():
            a, b = step(model), forward(twin)
        assert np.array_equal(a.array, b.array)
    _assert_same([t.array for t in model.buffers()], [t.array for t in twin.buffers()],
                 "running statistics")
    model.eval()
    twin.eval()
    with gk.no_grad():
        a, b = step(model), forward(twin)
    assert np.array_equal(a.array, b.array)  # eval mode: its own program, running stats


def test_a_new_shape_records_a_program_of_its_own():
    model = nn.Linear(3, 2)
    step = gk.compile(lambda x: model(x).sum())
    for n in (4, 4, 4, 4, 7, 7, 7, 4):
        with gk.no_grad():
            got = step(gk.ones(n, 3)).item()
            assert got == model(gk.ones(n, 3)).sum().item()
    assert step.stats == {"eager": 1, "recorded": 2, "verified": 2, "replayed": 3}


def _compiled_square_loss_step(model, lr):
    """A compiled SGD step on the mean of model(x)'s squares."""
    opt = optim.SGD(model.parameters(), lr=lr)

    @gk.compile
    def step(x):
        opt.zero_grad()
        loss = model(x).square().mean()
        loss.backward()
        opt.step()
        return loss

    return step


def test_the_result_is_a_copy_the_caller_can_keep():
    step = _compiled_square_loss_step(nn.Linear(2, 1), lr=0.5)
    x = gk.ones(3, 2)
    losses = [step(x) for _ in range(6)]
    values = [t.item() for t in losses]
    assert len(set(values)) == 6  # each kept tensor still holds its own step's value
    assert not losses[-1].requires_grad


def test_model_parameters_changed_outside_are_read_by_the_replay():
    model = nn.Linear(2, 1)
    step = gk.compile(lambda x: model(x).sum())
    x = gk.ones(1, 2)
    with gk.no_grad():
        for _ in range(4):
            step(x)
        model.weight.fill_(2.0)
        model.bias.fill_(1.0)
        assert step(x).item() == 5.0


def test_reading_a_value_on_the_host_while_recording_is_refused():
    model = nn.Linear(2, 1)

    def step(x):
        loss = model(x).sum()
        if loss.item() > 0:  # data-dependent Python
            return loss
        return -loss

    compiled = gk.compile(step)
    with gk.no_grad():
        compiled(gk.ones(1, 2))
        with pytest.raises(gk.CompileError, match=r"\.item\(\)"):
            compiled(gk.ones(1, 2))


def test_reading_a_value_on_the_host_is_refused_on_every_device(device):
    model = nn.Linear(2, 1, device=device)

    def step(x):
        loss = model(x).sum()
        return loss * 2 if float(loss) > 0 else loss

    compiled = gk.compile(step)
    x = gk.ones(1, 2, device=device)
    with gk.no_grad():
        compiled(x)
        if gk.get_backend(device).name == "strict":
            compiled(x)  # (eager there)
            return
        with pytest.raises(gk.CompileError, match="reads a tensor's value on the host"):
            compiled(x)


@pytest.mark.parametrize("name", ["bn", "wavenet"])
def test_makemore_models_on_every_device(device, name):
    makemore = _example("makemore")
    block = 8 if name == "wavenet" else 3
    results = []
    for compiled in (False, True):
        gk.manual_seed(0)
        model = makemore.build_model(name, 27, block, 10, 32, device=device)
        opt = optim.SGD(model.parameters(), lr=0.1)
        step = _training_step(model, opt, None, lambda m, x, y: F.cross_entropy(m(x), y))
        run = gk.compile(step) if compiled else step
        trace = []
        for i in range(5):
            rng = np.random.default_rng((1, i))
            x = gk.tensor(rng.integers(0, 27, (16, block)), device=device)
            y = gk.tensor(rng.integers(0, 27, 16), device=device)
            trace.append([run(x, y).numpy()] + [p.numpy() for p in model.parameters()])
        results.append(trace)
    for i, (a, b) in enumerate(zip(*results)):
        _assert_same(a, b, f"step {i}")


def test_boolean_mask_indexing_is_refused():
    step = gk.compile(lambda x: x[x > 0].sum())
    x = gk.tensor([1.0, -1.0, 2.0])
    step(x)
    with pytest.raises(gk.CompileError, match="boolean-mask"):
        step(x)


def test_a_step_that_hides_work_from_the_recorder_fails_verification():
    model = nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        # a constant made from the parameters outside any recorded call: stale at replay
        scale = gk.tensor(np.asarray(model.weight.array).sum().copy())
        loss = (model(x) * scale).sum()
        loss.backward()
        opt.step()
        return loss

    compiled = gk.compile(step)
    x = gk.ones(3, 2)
    compiled(x)
    compiled(x)
    with pytest.raises(gk.CompileError, match="different numbers"):
        compiled(x)


def test_on_every_device_the_compiled_step_gives_the_eager_numbers(device):
    """NumPy records array calls; CuPy (the simulator here) captures CUDA graphs, cut at
    each matmul and host op; strict runs eagerly. The numbers are the eager step's."""
    results = []
    for compiled in (False, True):
        gk.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Dropout(0.25),
                              nn.Linear(16, 3)).to(device)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        step = _training_step(model, opt, None, lambda m, x, y: F.cross_entropy(m(x), y))
        run = gk.compile(step) if compiled else step
        gk.manual_seed(1)
        trace = []
        for i in range(6):
            x, y = _fresh_batches((8, 6), 3)(i)
            loss = run(x.to(device), y.to(device))
            trace.append([loss.numpy()] + [p.numpy() for p in model.parameters()]
                         + [p.grad.numpy() for p in model.parameters()])
        results.append((trace, run))
    (eager, _), (replayed, run) = results
    for i, (a, b) in enumerate(zip(eager, replayed)):
        _assert_same(a, b, f"step {i}")
    if gk.get_backend(device).name == "strict":  # (no recorder for array-api-strict)
        assert run.stats["eager"] == 6
    else:
        assert run.stats == {"eager": 1, "recorded": 1, "verified": 1, "replayed": 3}


def test_freezing_a_parameter_records_again():
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    twin = copy.deepcopy(model)
    runs = []
    for m in (model, twin):
        opt = optim.SGD(m.parameters(), lr=0.1)

        def step(x, m=m, opt=opt):
            opt.zero_grad()
            loss = m(x).square().mean()
            loss.backward()
            opt.step()
            return loss

        runs.append(step)
    compiled = gk.compile(runs[0])
    x = gk.randn(5, 3)
    for i in range(10):
        if i == 5:
            model[0].weight.requires_grad_(False)
            twin[0].weight.requires_grad_(False)
        a, b = compiled(x), runs[1](x)
        assert np.array_equal(a.array, b.array), i
    _assert_same([p.array for p in model.parameters()], [p.array for p in twin.parameters()],
                 "parameters")
    assert compiled.stats["recorded"] == 3  # frozen; then its .grad None, by zero_grad


def test_a_learning_rate_set_by_hand_is_read_at_every_replay():
    gk.manual_seed(0)
    w = nn.Parameter(gk.ones(3))
    opt = optim.SGD([w], lr=0.5)

    @gk.compile
    def step():
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()

    for _ in range(4):
        step()
    before = w.array.copy()
    opt.param_groups[0]["lr"] = 0.25
    step()
    np.testing.assert_array_equal(w.array, before - np.float32(0.25) * (2 * before))


def test_a_python_number_argument_is_part_of_the_guard():
    w = nn.Parameter(gk.ones(2))
    step = gk.compile(lambda scale: (w * scale).sum())
    with gk.no_grad():
        got = [step(s).item() for s in (1.0, 1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 1.0)]
    assert got == [2.0] * 4 + [6.0] * 3 + [2.0]


def test_gradient_accumulation_without_zero_grad_in_the_step():
    results = []
    for compiled in (False, True):
        gk.manual_seed(0)
        model = nn.Linear(4, 2)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)

        def micro(x, model=model):  # backward only: .grad accumulates over calls
            loss = model(x).square().mean()
            loss.backward()
            return loss

        run = gk.compile(micro) if compiled else micro
        trace = []
        for i in range(12):
            run(gk.tensor(np.random.default_rng((3, i)).standard_normal((5, 4)),
                          dtype=gk.float32))
            if i % 3 == 2:  # an optimizer step every third micro-batch
                opt.step()
                opt.zero_grad()
            trace.append(_state(model, opt))
        results.append(trace)
    for i, (a, b) in enumerate(zip(*results)):
        _assert_same(a, b, f"after micro-batch {i}")


def test_train_mlp_example_model_with_adamw_and_a_sequential_schedule():
    train_mlp = _example("train_mlp")

    def make():
        model = train_mlp.build_model(in_features=12, hidden=32, n_classes=5, dropout=0.2)
        return model, optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.05)

    def schedule(opt):  # train_mlp.py's: warm-up, then cosine
        return optim.lr_scheduler.SequentialLR(opt, [
            optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=3),
            optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6)], milestones=[3])

    _train_both(make, _fresh_batches((16, 12), 5),
                lambda m, x, y: F.cross_entropy(m(x), y), steps=10, schedule=schedule)


def test_gradient_clipping_inside_the_step():
    results = []
    for compiled in (False, True):
        gk.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
        opt = optim.SGD(model.parameters(), lr=0.5)

        def step(x, y, model=model, opt=opt):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            opt.step()
            return loss

        run = gk.compile(step) if compiled else step
        trace = []
        batches = _fresh_batches((8, 6), 3)
        for i in range(8):
            trace.append((run(*batches(i)).array.copy(), _state(model, opt)))
        results.append(trace)
    for i, ((l1, s1), (l2, s2)) in enumerate(zip(*results)):
        _assert_same([l1] + s1, [l2] + s2, f"step {i}")


def test_tensors_passed_by_keyword_or_in_a_tuple_are_the_batch():
    model = nn.Linear(3, 1)
    step = gk.compile(lambda batch, *, scale: (model(batch[0]) * batch[1] * scale).sum())
    with gk.no_grad():
        for i in range(6):
            x, w, s = gk.randn(4, 3), gk.randn(4, 1), gk.full((), float(i))
            got = step((x, w), scale=s)
            assert np.array_equal(got.array, (model(x) * w * s).sum().array), i
    assert step.stats["replayed"] == 3


def test_nonzero_and_printing_inside_the_step_are_refused():
    x = gk.tensor([1.0, 0.0, 2.0])
    for body, match in ((lambda x: gk.tensor(np.nonzero(x.array)[0]).sum(), "nonzero"),
                        (lambda x: print(x * 2) or x.sum(), "host")):
        step = gk.compile(body)
        step(x)
        with pytest.raises(gk.CompileError, match=match):
            step(x)


def test_a_step_that_replaces_a_tensor_by_another_shape_is_refused():
    buf = gk.zeros(3)

    def step(x):
        buf.data = gk.zeros(5)  # storage of another shape: no fixed buffer can hold it
        return x.sum()

    compiled = gk.compile(step)
    compiled(gk.ones(2))
    buf.data = gk.zeros(3)
    with pytest.raises(gk.CompileError, match=r"replaced a tensor of shape \(3,\)"):
        compiled(gk.ones(2))


def test_at_most_sixteen_programs_are_kept_and_each_is_right():
    w = nn.Parameter(gk.ones(2))
    step = gk.compile(lambda scale: (w * scale).sum())
    with gk.no_grad():
        for scale in [float(i) for i in range(20) for _ in range(3)]:
            assert step(scale).item() == 2 * scale
    assert len(step._programs) <= 16
    step.reset()
    assert not step._programs


def _host_steps(run):
    """The optimizer steps a compiled step's programs replay whole on the host, and the
    optimizer steps recorded as array work (their scalars refreshed by a host op)."""
    from gradkit.jit import _optimizer_step, _refresh_scalars

    ops = [op for p in run._programs.values() if not isinstance(p, int) for op in p.ops]
    whole = sum(getattr(op, "func", None) is _optimizer_step() for op in ops)
    split = sum(getattr(op, "func", None) is _refresh_scalars for op in ops)
    return whole, split


@pytest.mark.parametrize("dtype", [gk.float32, gk.float64])
@pytest.mark.parametrize("make_opt", [
    lambda ps: optim.SGD(ps, lr=0.1),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.8, dampening=0.3, weight_decay=1e-2,
                         maximize=True),
    lambda ps: optim.Adam(ps, lr=0.02, weight_decay=1e-2, amsgrad=True),
    lambda ps: optim.AdamW(ps, lr=0.02, betas=(0.8, 0.9), eps=1e-6, maximize=True),
], ids=["sgd", "sgd-momentum-dampening-decay-maximize", "adam-amsgrad-decay", "adamw"])
def test_the_optimizer_step_is_recorded_as_array_work(make_opt, dtype):
    """The optimizer's arithmetic is part of the program, its scalars (learning rate from a
    schedule, Adam's bias corrections from its step count) 0-d buffers refreshed at each
    replay: the same numbers as eagerly, bit for bit, in float32 and float64."""
    def make():
        model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype=dtype)
        return model, make_opt(model.parameters())

    def batches(i):
        x, y = _fresh_batches((10, 5), 3)(i)
        return x.to(dtype=dtype), y

    run = _train_both(make, batches, lambda m, x, y: F.cross_entropy(m(x), y), steps=10,
                      schedule=lambda opt: optim.lr_scheduler.StepLR(opt, 3, gamma=0.5))
    assert _host_steps(run) == (0, 1)


def test_a_hyperparameter_that_chooses_a_branch_is_part_of_the_guard():
    """weight_decay from 0 to nonzero (and momentum turned on) changes what the step
    computes, not only a scalar: the step records again, and stays bit-identical."""
    results = []
    for compiled in (False, True):
        gk.manual_seed(0)
        model = nn.Linear(4, 2)
        opt = optim.SGD(model.parameters(), lr=0.1)
        step = _training_step(model, opt, None, lambda m, x: m(x).square().mean())
        run = gk.compile(step) if compiled else step
        trace = []
        for i in range(12):
            if i == 5:
                opt.param_groups[0]["weight_decay"] = 0.1
            if i == 8:
                opt.param_groups[0]["momentum"] = 0.9
            x = gk.tensor(np.random.default_rng((4, i)).standard_normal((6, 4)),
                          dtype=gk.float32)
            trace.append((run(x).array.copy(), _state(model, opt)))
        results.append((trace, run))
    (eager, _), (replayed, run) = results
    for i, ((l1, s1), (l2, s2)) in enumerate(zip(eager, replayed)):
        _assert_same([l1] + s1, [l2] + s2, f"step {i}")
    assert run.stats["recorded"] == 3, run.stats
    # the momentum buffer is made by the first step with momentum: that program runs
    # step() whole; the two before it record the update as array work
    assert _host_steps(run) == (1, 2)


@pytest.mark.parametrize("dtype", [gk.float32, gk.float64])
def test_reductions_selections_and_copies_replay_with_the_eager_numbers(dtype):
    """Sums, means, maxima, where, casts and reshaping copies are replayed writing into
    their buffers (the reduce of the ufunc, two copyto for where): the eager numbers."""
    other = gk.float64 if dtype != gk.float64 else gk.float32

    def f(x):
        return [x.mean(), x.mean(1), x.mean((0, 2), keepdim=True), x.sum(-1),
                x.sum((0, 1), keepdim=True), x.amax(2), x.amin(0, keepdim=True),
                x.max(1).values, gk.where(x > 0, x, -1.0), x.to(other),
                x.transpose(0, 2).reshape(-1), x.softmax(-1)]

    step = gk.compile(f)
    rng = np.random.default_rng(7)
    for i in range(6):
        x = gk.tensor(rng.standard_normal((4, 5, 6)) * 10, dtype=dtype)
        got, expected = step(x), f(x)
        for j, (a, b) in enumerate(zip(got, expected)):
            assert a.dtype == b.dtype and a.shape == b.shape, (i, j)
            assert np.array_equal(a.array, b.array), (i, j)
    assert step.stats["replayed"] == 3


def test_an_optimizer_subclass_with_its_own_update_runs_it_at_every_replay():
    """A subclass that overrides _update is not split by the parent's rule: its whole step
    runs on the host at each replay, with its own numbers."""
    class HalfStepSGD(optim.SGD):
        def _update(self, group, p, state):
            p.array[...] -= 0.5 * group["lr"] * p._grad.array

    def make():
        model = nn.Linear(3, 2)
        return model, HalfStepSGD(model.parameters(), lr=0.1)

    run = _train_both(make, lambda i: (_fresh_batches((4, 3), 2)(i)[0],),
                      lambda m, x: m(x).square().mean())
    assert _host_steps(run) == (1, 0)


def test_a_replay_form_is_used_only_if_it_writes_the_recorded_bytes():
    """A call replayed with out= (or copyto) is tried once while recording: if NumPy gives
    other bytes, or refuses the buffer, the replay computes and copies instead."""
    from gradkit.jit import _gives_the_same

    buf = np.array([1.0, -0.0], np.float32)
    assert _gives_the_same(lambda: np.copyto(buf, [1.0, -0.0]), buf)
    assert not _gives_the_same(lambda: np.copyto(buf, [1.0, 0.0]), buf)  # +0 is not -0
    assert not _gives_the_same(lambda: np.dot(np.ones((2, 2)), np.ones(2), out=buf), buf)
    assert buf.tobytes() == np.array([1.0, -0.0], np.float32).tobytes()  # restored


def _program(step):
    return next(p for p in step._programs.values() if not isinstance(p, int))


def test_buffers_whose_lifetimes_do_not_overlap_share_memory():
    """The recorded program's own buffers (one per call result) are packed into one arena
    by lifetime: a deep MLP's step needs a fraction of the memory, with the eager numbers."""
    def make():
        layers = [nn.Linear(32, 32) for _ in range(6)]
        model = nn.Sequential(*[m for lin in layers for m in (lin, nn.ReLU())], nn.Linear(32, 4))
        return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    run = _train_both(make, _fresh_batches((64, 32), 4),
                      lambda m, x, y: F.cross_entropy(m(x), y))
    before, after = _program(run).memory
    assert before > 0 and after <= 0.5 * before, (before, after)


class _Stash:
    """A lecture-style layer (a plain class, not an nn.Module) that keeps its output."""

    def __init__(self, n_in, n_out):
        self.weight = gk.randn(n_in, n_out) * n_in ** -0.5
        self.weight.requires_grad_(True)

    def __call__(self, x):
        self.out = (x @ self.weight).tanh()
        return self.out


def test_a_tensor_kept_outside_the_step_holds_the_latest_replay_values():
    """A buffer something still holds after the recording (lecture 3's `layer.out`, kept in
    a list the step does not name) keeps its memory: after every replay it holds that
    step's values, as after an eager step, not another buffer's."""
    results = []
    for compiled in (False, True):
        gk.manual_seed(0)
        layers = [_Stash(8, 16), _Stash(16, 16), _Stash(16, 3)]
        params = [layer.weight for layer in layers]
        opt = optim.SGD(params, lr=0.1)
        keep = {"layers": [layers]}  # (deeper than the step's own references)

        def step(x, y, keep=keep, opt=opt):
            h = x
            for layer in keep["layers"][0]:
                h = layer(h)
            loss = F.cross_entropy(h, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        run = gk.compile(step) if compiled else step
        outs = []
        for i in range(6):
            x, y = _fresh_batches((10, 8), 3)(i)
            run(x, y)
            outs.append([layer.out.array.copy() for layer in layers])
        results.append(outs)
    assert run.stats["replayed"] == 3
    _assert_same([a for o in results[0] for a in o], [a for o in results[1] for a in o],
                 "layer.out after each step")


def test_the_verification_does_not_copy_the_replayed_state():
    """The third call (verification) keeps copies of the state before and after the eager
    step, and compares the replay's state in place: a third copy made its peak 12.7x the
    parameters' bytes on this model, now 9.7x (tracemalloc counts NumPy's buffers)."""
    import tracemalloc

    gk.manual_seed(0)
    model = nn.Linear(1000, 1000)
    step = _compiled_square_loss_step(model, lr=0.1)
    x = gk.randn(2, 1000)
    step(x)
    step(x)
    tracemalloc.start()
    try:
        step(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert step.stats["verified"] == 1
    assert peak < 11 * sum(p.array.nbytes for p in model.parameters()), peak


def test_memory_is_planned_before_a_program_is_first_replayed_not_when_recorded():
    """Planning reads every live tensor (the garbage collector's list): a program recorded
    for an argument that never comes back, as a changing Python number would, is not
    replayed and costs no planning."""
    w = nn.Parameter(gk.ones(2))
    step = gk.compile(lambda scale: (w * scale).sum())
    with gk.no_grad():
        assert [step(s).item() for s in (1.0, 2.0, 3.0, 3.0, 3.0)] == [2.0, 4.0, 6.0, 6.0, 6.0]
    programs = [p for p in step._programs.values() if not isinstance(p, int)]
    assert [p.memory is None for p in programs] == [True, False], [p.memory for p in programs]
