"""Check that gradkit computes right on this machine: ``python -m gradkit.selfcheck``.

Run it first on a new machine, above all on a GPU one, before trusting a training run:

    python -m gradkit.selfcheck                  # cuda if a GPU answers, else cpu
    python -m gradkit.selfcheck --device cuda:1  # or cpu, strict
    python -m gradkit.selfcheck --quick          # a representative subset (seconds)

On the chosen device it runs, one output line per check:

ops.forward, ops.gradcheck, ops.gradgradcheck
    every op of the op registry (gradkit.testing.op_registry): the forward against NumPy
    in float32 and float64, first and second derivatives against finite differences in
    float64 (for ops without a second derivative, that asking for one raises).
    --quick runs the registry's QUICK cases and no second derivatives.
fused_kernels
    every fused optimizer kernel the backend offers (fused_adam_update, fused_sgd_update)
    against the optimizers' generic rules (gradkit.optim.adam_update, sgd_update).
training_step
    a few steps of a small network (Linear, BatchNorm1d, GELU, Dropout, LayerNorm,
    cross_entropy + mse_loss, clip_grad_norm_) with AdamW and a cosine schedule and with
    SGD-Nesterov and OneCycleLR, inside the backend's ``no_host_sync()``: a device value
    pulled to the host during a step fails it (on CuPy via cupyx.allow_synchronize). The
    loss must fall and everything must stay on the device.
save_load
    gk.save / gk.load of the model and optimizer state in a temporary directory: values
    equal, dtypes and the device kept, the reloaded model computes the same output.
determinism
    the same seeded training twice gives bit-identical parameters, buffers and losses.
second_gpu
    with two or more GPUs, a model and data on cuda:1 train, and every parameter,
    gradient, buffer and optimizer state stays on cuda:1 (SKIP otherwise).

Each line reads ``PASS|FAIL|SKIP  name  detail  [seconds]``; a FAIL is followed by
indented lines saying what went wrong (each failing op case, or the exception). A check
that raises is a FAIL and the run goes on. The last line sums up. Exit status: 0 when
nothing failed, 1 when a check failed (or the watchdog fired), 2 when the device cannot
be used. A watchdog (``--timeout``, default 600 s) ends a run that hangs, with a
traceback of where, instead of waiting forever.

`main(argv)` runs it in-process and returns the exit status.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import platform
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import nn, optim
from gradkit.backends import Backend
from gradkit.backends.base import DeviceLike
from gradkit.optim.adam import adam_update
from gradkit.optim.sgd import sgd_update
from gradkit.testing import op_registry

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
MAX_DETAIL_LINES = 8  # per failing case or exception, unless --verbose


class Skip(Exception):
    """Raised by a check that does not apply here; the message says why.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import selfcheck
    >>> run = selfcheck.Run("cpu", gk.get_backend("cpu"))
    >>> selfcheck.run_check(run, "skip", selfcheck.check_second_gpu).status
    'SKIP'
    """


class CheckFailed(AssertionError):
    """Some parts of a check failed: ``summary`` for its line, ``lines`` for each part.

    Parameters
    ----------
    summary : str
        The detail shown on the check's FAIL line.
    lines : list of str
        What failed, one line each, shown indented below.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import selfcheck
    >>> def failing(run):
    ...     raise selfcheck.CheckFailed("1 of 2 parts failed", ["part b: wrong"])
    >>> run = selfcheck.Run("cpu", gk.get_backend("cpu"))
    >>> print(selfcheck.run_check(run, "demo", failing).format())  # doctest: +ELLIPSIS
    FAIL  demo              1 of 2 parts failed  [... s]
          part b: wrong
    """

    def __init__(self, summary: str, lines: list[str]):
        super().__init__(summary)
        self.summary, self.lines = summary, lines


@dataclass
class Result:
    """The outcome of one check, as :func:`run_check` returns it.

    Parameters
    ----------
    status : {"PASS", "FAIL", "SKIP"}
    name : str
        The check's name.
    detail : str
        What was checked, why it was skipped, or what failed.
    seconds : float
        How long it took.
    lines : list of str, optional
        What failed, shown indented under the line.

    Examples
    --------
    >>> from gradkit import selfcheck
    >>> print(selfcheck.Result("PASS", "demo", "all fine", 0.25).format())
    PASS  demo              all fine  [0.2 s]
    """
    status: str  # PASS, FAIL or SKIP
    name: str
    detail: str
    seconds: float
    lines: list[str] = field(default_factory=list)  # what failed, indented under the line

    def format(self) -> str:
        """Return the output line, ``STATUS  name  detail  [seconds]``, and any indented lines.

        Returns
        -------
        str

        Examples
        --------
        >>> from gradkit import selfcheck
        >>> print(selfcheck.Result("FAIL", "demo", "broken", 1.0, ["why"]).format())
        FAIL  demo              broken  [1.0 s]
              why
        """
        head = f"{self.status}  {self.name:<18}{self.detail}  [{self.seconds:.1f} s]"
        return "\n".join([head] + [f"      {line}" for line in self.lines])


@dataclass
class Run:
    """What every check gets: the device, its backend and the options.

    Parameters
    ----------
    device : str
        The canonical device ("cuda:0", "cpu", "strict:device1").
    backend : Backend
        Its backend.
    quick : bool, default False
        Run the representative subset only.
    verbose : bool, default False
        Show full tracebacks.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import selfcheck
    >>> selfcheck.Run("cpu", gk.get_backend("cpu"), quick=True).quick
    True
    """

    device: str  # canonical ("cuda:0", "cpu", "strict:device1")
    backend: Backend
    quick: bool = False
    verbose: bool = False


def _exception_lines(e: BaseException, verbose: bool) -> list[str]:
    if verbose:
        return "".join(traceback.format_exception(type(e), e, e.__traceback__)).rstrip().split("\n")
    text = f"{type(e).__name__}: {e}".rstrip()
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) > MAX_DETAIL_LINES:
        lines = lines[:MAX_DETAIL_LINES] + [f"... ({len(lines) - MAX_DETAIL_LINES} more lines; "
                                            "--verbose shows all and the traceback)"]
    return lines


# ==== (a) the op registry ========================================================================
def _cases(run: Run, differentiable_only=False):
    cases = op_registry.CASES
    if run.quick:
        cases = [op_registry.BY_NAME[n] for n in op_registry.QUICK]
    return [c for c in cases if c.differentiable or not differentiable_only]


def _run_cases(run: Run, cases, check) -> int:
    """`check(case, device)` for every case; CheckFailed listing the cases that fail."""
    failed, lines = [], []
    for case in cases:
        try:
            # Some cases divide by zero on purpose (isnan, isinf): NumPy's warnings are noise.
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                check(case, run.device)
        except Exception as e:
            first, *rest = _exception_lines(e, run.verbose)
            failed.append(case.name)
            lines += [f"{case.name}: {first}"] + [f"  {line}" for line in rest]
    if failed:
        shown = ", ".join(failed[:6]) + (", ..." if len(failed) > 6 else "")
        raise CheckFailed(f"{len(failed)} of {len(cases)} cases failed: {shown}", lines)
    return len(cases)


def _subset(run: Run) -> str:
    return " (the QUICK subset)" if run.quick else ""


def check_ops_forward(run: Run) -> str:
    """Check every op of the registry against NumPy, in float32 and float64.

    Parameters
    ----------
    run : Run
        The device, its backend and the options.

    Returns
    -------
    str
        The detail of the PASS line.

    Raises
    ------
    CheckFailed
        Listing every failing op case.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import selfcheck
    >>> run = selfcheck.Run("cpu", gk.get_backend("cpu"), quick=True)
    >>> selfcheck.check_ops_forward(run)  # doctest: +ELLIPSIS
    '... cases (the QUICK subset) against NumPy, float32 and float64'
    """
    n = _run_cases(run, _cases(run), op_registry.check_forward)
    return f"{n} cases{_subset(run)} against NumPy, float32 and float64"


def check_ops_gradcheck(run: Run) -> str:
    """Check every differentiable op's gradient against finite differences.

    Parameters
    ----------
    run : Run
        The device, its backend and the options.

    Returns
    -------
    str
        The detail of the PASS line.

    Raises
    ------
    CheckFailed
        Listing every failing op case.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import selfcheck
    >>> run = selfcheck.Run("cpu", gk.get_backend("cpu"), quick=True)
    >>> selfcheck.check_ops_gradcheck(run)  # doctest: +ELLIPSIS
    '... cases (the QUICK subset) against finite differences, float64'
    """
    n = _run_cases(run, _cases(run, differentiable_only=True), op_registry.check_gradcheck)
    return f"{n} cases{_subset(run)} against finite differences, float64"


def check_ops_gradgradcheck(run: Run) -> str:
    """Check every op's second derivative against finite differences.

    For ops without a second derivative, check that asking for one raises.

    Parameters
    ----------
    run : Run
        The device, its backend and the options.

    Returns
    -------
    str
        The detail of the PASS line.

    Raises
    ------
    Skip
        With ``run.quick``.
    CheckFailed
        Listing every failing op case.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import selfcheck
    >>> run = selfcheck.Run("cpu", gk.get_backend("cpu"), quick=True)
    >>> selfcheck.run_check(run, "ops.gradgradcheck", selfcheck.check_ops_gradgradcheck).detail
    'second derivatives are left out by --quick'
    """
    if run.quick:
        raise Skip("second derivatives are left out by --quick")
    cases = _cases(run, differentiable_only=True)
    n = _run_cases(run, cases, op_registry.check_gradgradcheck)
    first_only = sum(not c.double_backward for c in cases)
    return (f"{n} cases against finite differences, float64 ({first_only} first-order ops: "
            "create_graph=True raises)")


# ==== (b) fused kernels against the generic rules ================================================
_FUSED_TOL: dict[str, dict[str, Any]] = {"float32": dict(rtol=1e-5, atol=1e-6),
                                         "float64": dict(rtol=1e-12, atol=1e-14)}


def _arrays(backend, rng, dtype, n, count):
    return [backend.asarray(rng.standard_normal(n).astype(dtype), dtype) for _ in range(count)]


def _copy(backend, a):
    return backend.xp.asarray(a, copy=True)


def _same(backend, what, got, want, dtype):
    np.testing.assert_allclose(backend.to_numpy(got), backend.to_numpy(want), err_msg=what,
                               **_FUSED_TOL[dtype])


def _compare_adam(backend, kernel):
    rng = np.random.default_rng(11)
    for dtype in ("float32", "float64"):
        for decoupled, weight_decay in ((False, 0.0), (False, 0.1), (True, 0.1)):
            for step in (1, 7):
                p, g, m, v = _arrays(backend, rng, dtype, 4099, 4)  # several GPU blocks
                v = backend.xp.abs(v)
                ps, ms, vs = (_copy(backend, a) for a in (p, m, v))
                args = (0.01, 0.9, 0.999, 1e-8, weight_decay, decoupled, step)
                kernel(p, g, m, v, *args)
                adam_update(backend.xp, ps, g, ms, vs, *args)
                what = (f"fused_adam_update vs adam_update [{dtype}, decoupled={decoupled}, "
                        f"weight_decay={weight_decay}, step={step}]")
                for name, got, want in (("param", p, ps), ("exp_avg", m, ms),
                                        ("exp_avg_sq", v, vs)):
                    _same(backend, f"{what}: {name}", got, want, dtype)


def _compare_sgd(backend, kernel):
    rng = np.random.default_rng(12)
    for dtype in ("float32", "float64"):
        for momentum, weight_decay, nesterov, dampening in ((0.0, 0.0, False, 0.0),
                                                            (0.9, 0.01, True, 0.0),
                                                            (0.9, 0.0, False, 0.1)):
            p, g, g2 = _arrays(backend, rng, dtype, 4099, 3)
            ps = _copy(backend, p)
            hyper = (0.1, momentum, weight_decay, nesterov, dampening)
            buf = kernel(p, g, None, *hyper)  # the first step makes the buffer
            bufs = sgd_update(backend.xp, ps, g, None, *hyper)
            what = (f"fused_sgd_update vs sgd_update [{dtype}, momentum={momentum}, "
                    f"weight_decay={weight_decay}, nesterov={nesterov}, dampening={dampening}]")
            if (buf is None) != (bufs is None):
                raise AssertionError(f"{what}: momentum buffer {buf!r} vs {bufs!r}")
            _same(backend, f"{what}: param, step 1", p, ps, dtype)
            if bufs is None:
                continue
            buf = kernel(p, g2, buf, *hyper)
            bufs = sgd_update(backend.xp, ps, g2, bufs, *hyper)
            _same(backend, f"{what}: param, step 2", p, ps, dtype)
            _same(backend, f"{what}: momentum buffer, step 2", buf, bufs, dtype)


def check_fused_kernels(run: Run) -> str:
    """Check the backend's fused optimizer kernels against the generic update rules.

    Parameters
    ----------
    run : Run
        The device, its backend and the options.

    Returns
    -------
    str
        The detail of the PASS line (which kernels matched, which are not offered).

    Raises
    ------
    AssertionError
        If a kernel's numbers differ from the generic rule's.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import selfcheck
    >>> run = selfcheck.Run("cpu", gk.get_backend("cpu"), quick=True)
    >>> selfcheck.check_fused_kernels(run)
    "no fused kernels on this backend (the optimizers' generic rules run)"
    """
    backend = run.backend
    compare = {"adam": (_compare_adam, "adam_update"), "sgd": (_compare_sgd, "sgd_update")}
    matched, absent = [], []
    for name, (compare_fn, rule) in compare.items():
        kernel = getattr(backend, f"fused_{name}_update", None)
        if kernel is None:
            absent.append(f"fused_{name}_update")
            continue
        # Raw arrays, outside gradkit's ops: on one of several GPUs, make it current.
        with backend.scope:
            compare_fn(backend, kernel)
        matched.append(f"fused_{name}_update matches {rule}")
    if not matched:
        return "no fused kernels on this backend (the optimizers' generic rules run)"
    detail = "; ".join(matched) + " (float32, float64)"
    if absent:
        detail += f"; not offered: {', '.join(absent)} (generic rule)"
    return detail


# ==== (c) a training step without host synchronisation ===========================================
def _model(device=None):
    """The small network of the training checks; made on `device` directly if given."""
    kw = {"device": device} if device is not None else {}
    return nn.Sequential(nn.Linear(8, 32, **kw), nn.BatchNorm1d(32, **kw), nn.GELU(),
                         nn.Dropout(0.1), nn.Linear(32, 32, **kw), nn.LayerNorm(32, **kw),
                         nn.Tanh(), nn.Linear(32, 4, **kw))


def _data(device, seed):
    rng = np.random.default_rng(seed)
    x = gk.tensor(rng.standard_normal((32, 8)).astype(np.float32), device=device)
    y = gk.tensor(rng.integers(0, 3, 32), device=device)
    target = gk.tensor(rng.standard_normal((32, 1)).astype(np.float32), device=device)
    return x, y, target


def train(device: DeviceLike, optimizer: str = "adamw", steps: int = 4, seed: int = 0,
          build_on_device: bool = False) -> tuple[nn.Module, optim.Optimizer, list[gk.Tensor]]:
    """Run seeded training steps of the self-check's small network on ``device``.

    The steps run inside the backend's ``no_host_sync()``, so a device value read on the
    host during a step raises (on CuPy).

    Parameters
    ----------
    device : str
        The device.
    optimizer : {"adamw", "sgd"}, default "adamw"
        AdamW with a cosine schedule, or SGD-Nesterov with OneCycleLR.
    steps : int, default 4
        The number of steps.
    seed : int, default 0
        The seed of the model and the data.
    build_on_device : bool, default False
        Make the model on ``device`` directly instead of moving it there.

    Returns
    -------
    model : nn.Module
    optimizer : optim.Optimizer
    losses : list of Tensor
        The losses, as 0-d device tensors.

    Examples
    --------
    >>> from gradkit import selfcheck
    >>> model, opt, losses = selfcheck.train("cpu", steps=2)
    >>> len(losses), losses[0].shape, type(opt).__name__
    (2, (), 'AdamW')
    """
    gk.manual_seed(seed)
    model = _model(device) if build_on_device else _model().to(device)
    x, y, target = _data(device, seed)
    if optimizer == "adamw":
        opt: optim.Optimizer = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-2)
        sched: optim.lr_scheduler.LRScheduler = optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=steps)
    else:
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                        weight_decay=1e-4)
        sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=steps + 1)
    losses = []
    with gk.get_backend(device).no_host_sync():
        for _ in range(steps):
            out = model(x)
            loss = (F.cross_entropy(out[:, :3], y, label_smoothing=0.1)
                    + F.mse_loss(out[:, 3:], target))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.detach())
    return model, opt, losses


def placement_problems(device: DeviceLike, model: nn.Module,
                       opt: optim.Optimizer) -> list[str]:
    """List every tensor of a trained model and its optimizer that is not on ``device``.

    Parameters, gradients, buffers and optimizer state are checked, by their device string
    and by the array itself; a missing gradient is a problem too.

    Parameters
    ----------
    device : str
        Where everything should be.
    model : nn.Module
    opt : optim.Optimizer

    Returns
    -------
    list of str
        One line per problem; empty when all is well.

    Examples
    --------
    >>> from gradkit import selfcheck
    >>> model, opt, _ = selfcheck.train("cpu", steps=1)
    >>> selfcheck.placement_problems("cpu", model, opt)
    []
    """
    backend = gk.get_backend(device)
    problems: list[str] = []

    def look(what: str, t: gk.Tensor) -> None:
        if t.device != backend.device or not backend.owns(t.array):
            problems.append(f"{what} is on {t.device} (array {type(t.array).__module__}), "
                            f"not {backend.device}")

    p: gk.Tensor
    for name, p in model.named_parameters():
        look(f"parameter {name}", p)
        if p.grad is None:
            problems.append(f"parameter {name} has no gradient")
        else:
            look(f"gradient of {name}", p.grad)
    for name, b in model.named_buffers():
        look(f"buffer {name}", b)
    names = {id(p): n for n, p in model.named_parameters()}
    for p, state in opt.state.items():
        for key, value in state.items():
            if isinstance(value, gk.Tensor):
                look(f"optimizer state {key} of {names.get(id(p), '?')}", value)
    return problems


def _train_and_check(device, optimizer, steps=4, build_on_device=False) -> str:
    gk.manual_seed(0)
    model, opt, losses = train(device, optimizer, steps, build_on_device=build_on_device)
    problems = placement_problems(device, model, opt)
    if problems:
        raise CheckFailed(f"{optimizer}: {len(problems)} tensors left {device}", problems)
    values = [loss.item() for loss in losses]  # after the step: host reads are fine here
    if not all(np.isfinite(values)):
        raise AssertionError(f"{optimizer}: the loss is not finite: {values}")
    if not values[-1] < values[0]:
        raise AssertionError(f"{optimizer}: the loss did not fall over {steps} steps: {values}")
    return f"{values[0]:.3f}->{values[-1]:.3f}"


def check_training_step(run: Run) -> str:
    """Check that a few training steps lower the loss without leaving the device.

    AdamW with a cosine schedule and SGD-Nesterov with OneCycleLR, each inside the
    backend's ``no_host_sync()``.

    Parameters
    ----------
    run : Run
        The device, its backend and the options.

    Returns
    -------
    str
        The detail of the PASS line (the losses).

    Raises
    ------
    CheckFailed
        If tensors left the device.
    AssertionError
        If the loss is not finite or did not fall.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import selfcheck
    >>> run = selfcheck.Run("cpu", gk.get_backend("cpu"), quick=True)
    >>> selfcheck.check_training_step(run)  # doctest: +ELLIPSIS
    'loss AdamW+cosine ...'
    """
    adamw = _train_and_check(run.device, "adamw")
    sgd = _train_and_check(run.device, "sgd")
    guard = run.backend.host_sync_check or f"nothing to detect on {run.backend.name}"
    return (f"loss AdamW+cosine {adamw}, SGD-Nesterov+OneCycle {sgd}, nothing left "
            f"the device; host syncs: {guard}")


# ==== (d) save and load on the device ============================================================
def _host(t):
    return t.numpy() if isinstance(t, gk.Tensor) else t


def _compare_tree(saved, loaded, device, where, problems):
    if isinstance(saved, dict):
        keys_saved = {str(k) for k in saved}
        keys_loaded = {str(k) for k in loaded}
        if keys_saved != keys_loaded:
            problems.append(f"{where}: keys {sorted(keys_saved ^ keys_loaded)} differ")
            return
        by_str = {str(k): v for k, v in loaded.items()}
        for k, v in saved.items():
            _compare_tree(v, by_str[str(k)], device, f"{where}.{k}", problems)
    elif isinstance(saved, (list, tuple)):
        if len(saved) != len(loaded):
            problems.append(f"{where}: {len(saved)} items saved, {len(loaded)} loaded")
            return
        for i, (a, b) in enumerate(zip(saved, loaded)):
            _compare_tree(a, b, device, f"{where}[{i}]", problems)
    elif isinstance(saved, gk.Tensor):
        if not isinstance(loaded, gk.Tensor):
            problems.append(f"{where}: a tensor was saved, {type(loaded).__name__} loaded")
        elif loaded.device != device:
            problems.append(f"{where}: loaded onto {loaded.device}, not {device}")
        elif (loaded.dtype, loaded.shape) != (saved.dtype, saved.shape):
            problems.append(f"{where}: saved {saved.dtype} {saved.shape}, loaded "
                            f"{loaded.dtype} {loaded.shape}")
        elif not np.array_equal(saved.numpy(), loaded.numpy()):
            problems.append(f"{where}: the values differ")
    elif saved != loaded:
        problems.append(f"{where}: saved {saved!r}, loaded {loaded!r}")


def check_save_load(run: Run) -> str:
    """Check a gk.save / gk.load round trip of a model and its optimizer on the device.

    The file is written in a temporary directory; values, dtypes and the device must be
    kept and the reloaded model must compute the same output.

    Parameters
    ----------
    run : Run
        The device, its backend and the options.

    Returns
    -------
    str
        The detail of the PASS line.

    Raises
    ------
    CheckFailed
        Listing the differences.
    AssertionError
        If the reloaded model computes another output.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import selfcheck
    >>> run = selfcheck.Run("cpu", gk.get_backend("cpu"), quick=True)
    >>> selfcheck.check_save_load(run)  # doctest: +ELLIPSIS
    'model (13 tensors) and AdamW state, ... KiB: values, dtypes and device kept'
    """
    device = run.device
    model, opt, _ = train(device, "adamw", steps=2, seed=2)
    state = {"model": model.state_dict(), "optimizer": opt.state_dict()}
    with tempfile.TemporaryDirectory(prefix="gradkit-selfcheck-") as tmp:
        path = os.path.join(tmp, "checkpoint.safetensors")
        gk.save(state, path)
        size = os.path.getsize(path)
        loaded = gk.load(path, device=device)
    problems: list[str] = []
    _compare_tree(state, loaded, device, "state", problems)
    if problems:
        raise CheckFailed(f"{len(problems)} differences after the round trip", problems)
    again = _model().to(device)
    again.load_state_dict(loaded["model"])
    again_opt = optim.AdamW(again.parameters(), lr=1e-2)
    again_opt.load_state_dict(loaded["optimizer"])
    model.eval()
    again.eval()
    x, _, _ = _data(device, 2)
    with gk.no_grad():
        if not np.array_equal(model(x).numpy(), again(x).numpy()):
            raise AssertionError("the reloaded model computes another output")
    for p in again.parameters():  # placement_problems wants gradients: give them some
        p.grad = gk.zeros_like(p)
    problems = placement_problems(device, again, again_opt)
    if problems:
        raise CheckFailed(f"{len(problems)} tensors of the reloaded model left {device}",
                          problems)
    n = sum(isinstance(v, gk.Tensor) for v in state["model"].values())
    return (f"model ({n} tensors) and AdamW state, {size / 1024:.0f} KiB: values, dtypes "
            f"and device kept")


# ==== (e) determinism ============================================================================
def check_determinism(run: Run) -> str:
    """Check that the same seeded training twice gives bit-identical results.

    Parameters
    ----------
    run : Run
        The device, its backend and the options.

    Returns
    -------
    str
        The detail of the PASS line.

    Raises
    ------
    CheckFailed
        Listing what differs.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import selfcheck
    >>> run = selfcheck.Run("cpu", gk.get_backend("cpu"), quick=True)
    >>> selfcheck.check_determinism(run)  # doctest: +ELLIPSIS
    '2 seeded runs each of AdamW and SGD: bit-identical ...'
    """
    compared = 0
    for optimizer in ("adamw", "sgd"):
        first = train(run.device, optimizer, steps=3, seed=7)
        second = train(run.device, optimizer, steps=3, seed=7)
        problems: list[str] = []
        for (name, ta), (_, tb) in zip(first[0].state_dict().items(),
                                       second[0].state_dict().items()):
            a, b = ta.numpy(), tb.numpy()
            compared += 1
            if not np.array_equal(a, b):
                diff = np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))
                problems.append(f"{optimizer}: {name} differs (max |difference| {diff:.3g})")
        la, lb = ([t.item() for t in r[2]] for r in (first, second))
        if la != lb:
            problems.append(f"{optimizer}: losses differ: {la} vs {lb}")
        if problems:
            raise CheckFailed(f"two identical seeded runs differ ({optimizer})", problems)
    return (f"2 seeded runs each of AdamW and SGD: bit-identical parameters, buffers and "
            f"losses ({compared} tensors)")


# ==== (f) a second GPU ===========================================================================
def check_other_device(device: DeviceLike) -> str:
    """Train on ``device`` (built there, and moved there) and check nothing leaves it.

    Parameters
    ----------
    device : str
        The device, such as "cuda:1".

    Returns
    -------
    str
        The detail of the PASS line.

    Raises
    ------
    CheckFailed
        If tensors left the device.
    AssertionError
        If the loss is not finite or did not fall.

    Examples
    --------
    >>> from gradkit import selfcheck
    >>> selfcheck.check_other_device("cpu")  # doctest: +ELLIPSIS
    'AdamW and SGD train on cpu (loss ...); parameters, gradients, ... stay there'
    """
    results = []
    for optimizer, build_on_device in (("adamw", True), ("sgd", False)):
        results.append(_train_and_check(device, optimizer, 2,
                                         build_on_device=build_on_device))
    return (f"AdamW and SGD train on {device} (loss {', '.join(results)}); parameters, "
            f"gradients, buffers and optimizer state stay there")


def check_second_gpu(run: Run) -> str:
    """With two or more GPUs, check that training on cuda:1 stays on cuda:1.

    Parameters
    ----------
    run : Run
        The device, its backend and the options.

    Returns
    -------
    str
        The detail of the PASS line.

    Raises
    ------
    Skip
        Without CUDA or with fewer than 2 GPUs.
    CheckFailed
        If tensors left cuda:1.

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import selfcheck
    >>> run = selfcheck.Run("cpu", gk.get_backend("cpu"), quick=True)
    >>> selfcheck.run_check(run, "second_gpu", selfcheck.check_second_gpu).detail
    'needs CUDA and 2 GPUs (this run is on cpu)'
    """
    if run.backend.name != "cupy":
        raise Skip(f"needs CUDA and 2 GPUs (this run is on {run.device})")
    count = gk.cuda.device_count()
    if count < 2:
        raise Skip(f"needs 2 CUDA GPUs, {count} found")
    return check_other_device("cuda:1")


# ==== running ====================================================================================
CHECKS: list[tuple[str, Callable[[Run], str]]] = [
    ("ops.forward", check_ops_forward),
    ("ops.gradcheck", check_ops_gradcheck),
    ("ops.gradgradcheck", check_ops_gradgradcheck),
    ("fused_kernels", check_fused_kernels),
    ("training_step", check_training_step),
    ("save_load", check_save_load),
    ("determinism", check_determinism),
    ("second_gpu", check_second_gpu),
]


def run_check(run: Run, name: str, check: Callable[[Run], str]) -> Result:
    """Run one check: PASS with its detail, SKIP, or FAIL with what went wrong.

    Never raises (except KeyboardInterrupt); queued device work is waited for inside the
    timing, so an asynchronous device error belongs to this check.

    Parameters
    ----------
    run : Run
        The device, its backend and the options.
    name : str
        The check's name, for the output line.
    check : callable
        ``check(run)`` returns the detail, or raises Skip, CheckFailed or anything else.

    Returns
    -------
    Result

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import selfcheck
    >>> run = selfcheck.Run("cpu", gk.get_backend("cpu"))
    >>> r = selfcheck.run_check(run, "demo", lambda run: "all fine")
    >>> r.status, r.detail
    ('PASS', 'all fine')
    >>> selfcheck.run_check(run, "demo", lambda run: 1 / 0).lines
    ['ZeroDivisionError: division by zero']
    """
    start = time.perf_counter()
    lines: list[str]
    try:
        detail = check(run)
        run.backend.synchronize()  # an asynchronous device error belongs to this check
        status, lines = PASS, []
    except Skip as e:
        status, detail, lines = SKIP, str(e), []
    except CheckFailed as e:
        status, detail, lines = FAIL, e.summary, e.lines
    except Exception as e:
        status, detail, lines = FAIL, "raised an exception", _exception_lines(e, run.verbose)
    return Result(status, name, detail, time.perf_counter() - start, lines)


def _choose_device(requested):
    if requested is not None:
        return requested, "--device"
    if gk.cuda.is_available():
        return "cuda", "the default, as a CUDA GPU answers; choose with --device"
    reason = gk.backends.availability("cupy")[1]
    return "cpu", f"the default, as no CUDA GPU is usable: {reason}; choose with --device"


def _arm_watchdog(seconds: float) -> bool:
    if seconds <= 0:
        return False
    try:
        stream = sys.__stderr__ if sys.__stderr__ is not None else sys.stderr
        faulthandler.dump_traceback_later(seconds, exit=True, file=stream)
    except Exception:  # no usable file descriptor (an embedded interpreter): no watchdog
        return False
    return True


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line of ``python -m gradkit.selfcheck``.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    argparse.Namespace
        ``device``, ``quick``, ``verbose`` and ``timeout``.

    Examples
    --------
    >>> from gradkit import selfcheck
    >>> selfcheck.parse_args(["--device", "cpu", "--quick"])
    Namespace(device='cpu', quick=True, verbose=False, timeout=600.0)
    """
    parser = argparse.ArgumentParser(
        prog="python -m gradkit.selfcheck",
        description="Check that gradkit computes right on this machine's device: the op "
                    "registry, fused kernels, a training step without host "
                    "synchronisation, save/load, determinism and a second GPU.")
    parser.add_argument("--device", default=None,
                        help="cuda, cuda:N, cpu or strict (default: cuda if a GPU answers, "
                             "else cpu)")
    parser.add_argument("--quick", action="store_true",
                        help="a representative subset: a few op cases per family, no second "
                             "derivatives (seconds instead of a minute)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="full tracebacks for failures")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                        help="end a run that takes longer (a hang), with a traceback and "
                             "exit status 1; 0: no limit (default: 600)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] | None = None) -> int:
    """Run the self-check in-process and return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (see :func:`parse_args`).
    out : callable, optional
        Receives each output line (default: print to stdout, flushed).

    Returns
    -------
    int
        0 when nothing failed, 1 when a check failed, 2 when the device cannot be used.

    Examples
    --------
    >>> from gradkit import selfcheck
    >>> lines = []
    >>> selfcheck.main(["--device", "cpu", "--quick", "--timeout", "0"], out=lines.append)
    0
    >>> lines[-1]  # doctest: +ELLIPSIS
    'OK: 6 passed, 0 failed, 2 skipped in ... s on cpu.'
    """
    args = parse_args(argv)
    if out is None:
        def out(line: str) -> None:
            print(line, flush=True)
    requested, why = _choose_device(args.device)
    try:
        backend = gk.get_backend(requested)
    except (gk.DeviceError, ValueError) as e:
        out(f"gradkit self-check: cannot use device {requested!r}: {e}")
        return 2
    run = Run(backend.device, backend, quick=args.quick, verbose=args.verbose)
    mode = "quick run (--quick)" if args.quick else "full run"
    out(f"gradkit {gk.__version__} self-check on {run.device}, {mode}")
    out(f"  device: {run.device} ({why})")
    try:
        about = backend.describe()
    except Exception as e:
        about = f"{backend!r} ({type(e).__name__}: {e})"
    out(f"  {about}; Python {platform.python_version()}")
    watchdog = _arm_watchdog(args.timeout)
    results = []
    start = time.perf_counter()
    try:
        for name, check in CHECKS:
            result = run_check(run, name, check)
            results.append(result)
            out(result.format())
    finally:
        if watchdog:
            faulthandler.cancel_dump_traceback_later()
    total = time.perf_counter() - start
    counts = {s: sum(r.status == s for r in results) for s in (PASS, FAIL, SKIP)}
    summary = (f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped "
               f"in {total:.1f} s on {run.device}")
    if counts[FAIL]:
        out(f"FAILED: {summary}. gradkit is not computing right here: see the FAIL lines "
            "(rerun with --verbose for tracebacks).")
        return 1
    out(f"OK: {summary}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
