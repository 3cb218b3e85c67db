"""Training diagnostics: the statistics lecture 4 of "Zero to Hero" computes by hand.

A `Recorder` attaches to a model without changing it (forward hooks on its activation
layers, gradient hooks on their outputs) and collects, per layer and per step:

- the activations' mean and standard deviation, the fraction of saturated outputs (Tanh:
  ``|y| > threshold``, 0.97 by default as in the lecture; Sigmoid: ``|2y - 1| >
  threshold``; ReLU: ``y <= 0``) and the fraction of dead units (saturated for every
  example of the batch);
- the mean and standard deviation of the gradient that reaches the layer's output;

and, per parameter and per optimizer step (`Recorder.step`, or automatically after
``optimizer.step()`` when the optimizer is given), the grad:data ratio
``std(grad) / std(data)`` and the update:data ratio ``log10(std(update) / std(data))``.

Every value stays on the device as a 0-d tensor while it is recorded: recording never
synchronises with the host. `Recorder.history`, `Recorder.summary`,
`Recorder.histograms`, `Recorder.plot` and `Recorder.save` bring the values to the host
(one transfer for everything recorded since the last time). See docs/diagnostics.md for
how to read the numbers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import dtypes as _dt
from .autograd import is_grad_enabled, no_grad
from .hooks import RemovableHandle
from .ops.elementwise import log10
from .ops.reduce import histc
from .ops.shape import stack
from .tensor import Tensor

if TYPE_CHECKING:
    from .nn.module import Module
    from .optim.optimizer import Optimizer

__all__ = ["LAYER_STATS", "PARAM_STATS", "Recorder", "default_layer_types"]

#: The statistics recorded per layer and step (keys of ``history["layers"][name]``).
LAYER_STATS = ("mean", "std", "saturated", "dead", "grad_mean", "grad_std")
#: The statistics recorded per parameter and step (keys of ``history["params"][name]``).
PARAM_STATS = ("grad_data", "update_data")

_GUIDE = -3.0  # log10 of the lecture's 1e-3 update:data ratio


def default_layer_types() -> tuple[type[Module], ...]:
    """The module types a Recorder watches unless told otherwise.

    Returns
    -------
    tuple of type
        ``(nn.Tanh, nn.ReLU, nn.Sigmoid, nn.GELU)``: the nonlinearities, whose outputs are
        the activations lecture 4 looks at.

    Examples
    --------
    >>> from gradkit import diagnostics
    >>> [t.__name__ for t in diagnostics.default_layer_types()]
    ['Tanh', 'ReLU', 'Sigmoid', 'GELU']
    """
    from . import nn

    return (nn.Tanh, nn.ReLU, nn.Sigmoid, nn.GELU)


def _saturation_rule(module: Module, threshold: float) -> Callable[[Tensor], Tensor] | None:
    """The elementwise "saturated" mask of a layer's output, or None for no rule."""
    from . import nn

    if isinstance(module, nn.Tanh):
        return lambda y: y.abs() > threshold
    if isinstance(module, nn.Sigmoid):
        return lambda y: (y * 2 - 1).abs() > threshold
    if isinstance(module, nn.ReLU):
        return lambda y: y <= 0
    return None


class Recorder:
    """Record activation, gradient and update statistics of a model while it trains.

    Forward hooks on the model's activation layers and gradient hooks on their outputs
    collect, per layer and step, the statistics named in `LAYER_STATS`; `step()` (called
    after ``optimizer.step()``, or automatically when `optimizer` is given) closes a
    step and records, per parameter, those named in `PARAM_STATS`. The model, its
    outputs and the training trajectory are not changed, and nothing is brought to the
    host while recording.

    Parameters
    ----------
    model : nn.Module
        The model to watch. Its modules are found with ``named_modules()``.
    optimizer : optim.Optimizer, optional
        When given, its ``step`` is wrapped (on this instance only, undone by `remove`)
        so that every ``optimizer.step()`` is followed by ``recorder.step()``.
    layers : tuple of type, optional
        The module types to record (default: `default_layer_types()`).
    threshold : float, optional
        Saturation threshold: a Tanh output is saturated when ``|y| > threshold``
        (default 0.97, the lecture's), a Sigmoid output when ``|2y - 1| > threshold``;
        a ReLU output when it is 0. Other layers have no saturation (NaN).
    parameters : {"weights", "all"}, optional
        The parameters whose grad:data and update:data ratios are recorded: "weights"
        (default, as in the lecture), those with two or more dimensions; "all", every
        parameter that requires grad.
    keep_last : bool, optional
        Keep a copy of each layer's last activations and gradients (on the device) for
        `histograms` and `plot` (default True).

    Attributes
    ----------
    layers : dict of str to str
        Recorded layer names (as in ``model.named_modules()``) and their types' names.
    params : list of str
        Names of the parameters whose ratios are recorded.
    steps : int
        Steps recorded so far (closed ones, plus an open one with any values in it).

    Raises
    ------
    ValueError
        If the model has no layer of the given types, `threshold` is not in (0, 1] or
        `parameters` is neither "weights" nor "all".

    Examples
    --------
    >>> import gradkit as gk
    >>> from gradkit import nn, optim
    >>> from gradkit.diagnostics import Recorder
    >>> _ = gk.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    >>> opt = optim.SGD(model.parameters(), lr=0.1)
    >>> x, y = gk.randn(16, 4), gk.randint(0, 2, (16,))
    >>> with Recorder(model, optimizer=opt) as rec:
    ...     for _ in range(3):
    ...         loss = nn.functional.cross_entropy(model(x), y)
    ...         opt.zero_grad()
    ...         loss.backward()
    ...         opt.step()
    >>> rec.steps, list(rec.layers.items()), rec.params
    (3, [('1', 'Tanh')], ['0.weight', '2.weight'])
    >>> rec.history["layers"]["1"]["std"].shape
    (3,)
    """

    def __init__(self, model: Module, optimizer: Optimizer | None = None, *,
                 layers: tuple[type[Module], ...] | None = None, threshold: float = 0.97,
                 parameters: str = "weights", keep_last: bool = True) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"Recorder: threshold must be in (0, 1], not {threshold}")
        if parameters not in ("weights", "all"):
            raise ValueError(f"Recorder: parameters must be 'weights' or 'all', not "
                             f"{parameters!r}")
        types = default_layer_types() if layers is None else tuple(layers)
        self.model, self.threshold, self.keep_last = model, threshold, keep_last
        self.layers: dict[str, str] = {}
        self._handles: list[RemovableHandle] = []
        self._grad_handles: list[RemovableHandle] = []
        seen: set[int] = set()
        for name, module in model.named_modules():
            if isinstance(module, types) and id(module) not in seen:
                seen.add(id(module))
                self.layers[name] = type(module).__name__
                self._handles.append(module.register_forward_hook(
                    self._forward_hook(name, _saturation_rule(module, threshold))))
        if not self.layers:
            for h in self._handles:
                h.remove()
            raise ValueError("Recorder: the model has no layer of the types "
                             f"{', '.join(t.__name__ for t in types)}; pass layers=(...)")
        self._params = [(n, p) for n, p in model.named_parameters() if p.requires_grad
                        and (parameters == "all" or p.ndim >= 2)]
        self.params: list[str] = [n for n, _ in self._params]
        with no_grad():
            self._before = [p.detach().clone() for _, p in self._params]
        self._closed: list[dict[tuple[str, str, str], Tensor]] = []  # on the device
        self._host: list[dict[tuple[str, str, str], float]] = []  # closed steps fetched
        self._open: dict[tuple[str, str, str], Tensor] = {}
        self._last: dict[tuple[str, str], Tensor] = {}  # (layer, "activation"|"grad")
        self._optimizer: Optimizer | None = None
        if optimizer is not None:
            self._wrap(optimizer)

    # ---- attaching ---------------------------------------------------------------------
    def _wrap(self, optimizer: Optimizer) -> None:
        original = optimizer.step  # the bound method (or another wrapper)

        def step(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            self.step()
            return result

        step.__wrapped__ = original  # type: ignore[attr-defined]
        optimizer.step = step  # type: ignore[method-assign]
        self._optimizer, self._optimizer_step = optimizer, step

    def remove(self) -> None:
        """Detach from the model (and the optimizer); what was recorded stays readable.

        Removes every forward hook, every gradient hook still registered on an output,
        and the optimizer's wrapped ``step``. Calling it twice is harmless.

        Returns
        -------
        None

        Examples
        --------
        >>> from gradkit import nn
        >>> from gradkit.diagnostics import Recorder
        >>> model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
        >>> rec = Recorder(model)
        >>> len(model[1]._forward_hooks)
        1
        >>> rec.remove()
        >>> len(model[1]._forward_hooks)
        0
        """
        for h in (*self._handles, *self._grad_handles):
            h.remove()
        self._handles, self._grad_handles = [], []
        opt = self._optimizer
        if opt is not None and opt.__dict__.get("step") is self._optimizer_step:
            del opt.__dict__["step"]
        self._optimizer = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    # ---- recording (device only) -----------------------------------------------------
    def _forward_hook(self, name: str, saturated: Callable[[Tensor], Tensor] | None
                      ) -> Callable[[Module, tuple[Any, ...], Any], None]:
        def hook(module: Module, args: tuple[Any, ...], output: Any) -> None:
            if not is_grad_enabled() or not isinstance(output, Tensor):
                return  # evaluation (under no_grad) is not training: not recorded
            if not output.dtype.is_floating_point:
                return
            with no_grad():
                y = output.detach()
                stats = self._open
                stats[("layer", name, "mean")] = y.mean()
                stats[("layer", name, "std")] = y.std()
                if saturated is not None:
                    mask = saturated(y)
                    stats[("layer", name, "saturated")] = mask.astype(y.dtype).mean()
                    if y.ndim >= 2:
                        per_unit = mask.reshape(-1, y.shape[-1]).all(dim=0)
                        stats[("layer", name, "dead")] = per_unit.astype(y.dtype).mean()
                if self.keep_last:
                    self._last[(name, "activation")] = y.clone()
            if output.requires_grad:
                self._grad_handles.append(output.register_hook(self._grad_hook(name)))

        return hook

    def _grad_hook(self, name: str) -> Callable[[Tensor], None]:
        def hook(grad: Tensor) -> None:
            with no_grad():
                g = grad.detach()
                self._open[("layer", name, "grad_mean")] = g.mean()
                self._open[("layer", name, "grad_std")] = g.std()
                if self.keep_last:
                    self._last[(name, "grad")] = g.clone()

        return hook

    def step(self) -> None:
        """Close the current step: record each parameter's ratios and start a new step.

        Call it after ``optimizer.step()`` (a Recorder given the optimizer calls it
        itself). The grad:data ratio is ``std(p.grad) / std(p)`` with the values before
        the update; the update:data ratio is ``log10(std(p_after - p_before) /
        std(p_before))``. Nothing is brought to the host.

        Returns
        -------
        None

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn, optim
        >>> from gradkit.diagnostics import Recorder
        >>> model = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
        >>> opt = optim.SGD(model.parameters(), lr=0.01)
        >>> rec = Recorder(model)
        >>> w = model[0].weight.detach().clone()
        >>> model(gk.randn(5, 3)).sum().backward()
        >>> opt.step()
        >>> rec.step()
        >>> expected = gk.log10((model[0].weight - w).std() / w.std()).item()
        >>> bool(abs(rec.history["params"]["0.weight"]["update_data"][0] - expected) < 1e-6)
        True
        """
        # (a parameter that is constant, such as a bias still at 0, has no ratio: inf or
        # NaN, without NumPy's warnings)
        with no_grad(), np.errstate(divide="ignore", invalid="ignore"):
            stats = self._open
            for (name, p), before in zip(self._params, self._before):
                data_std = before.std()
                if p.grad is not None:
                    stats[("param", name, "grad_data")] = p.grad.std() / data_std
                stats[("param", name, "update_data")] = log10((p.detach() - before).std()
                                                                 / data_std)
            self._before = [p.detach().clone() for _, p in self._params]
        self._closed.append(stats)
        self._open = {}
        self._grad_handles = []  # their graphs are gone or going: nothing left to remove

    # ---- reading (host) -------------------------------------------------------------
    @property
    def steps(self) -> int:
        """Steps recorded: the closed ones, plus the open one if it holds any value.

        A step closes at :meth:`step` (called by the optimizer's ``step()`` when the
        Recorder was given one); values recorded since are the open step.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> from gradkit.diagnostics import Recorder
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
        >>> rec = Recorder(model)
        >>> rec.steps
        0
        >>> _ = model(gk.randn(2, 3))
        >>> rec.steps
        1
        >>> rec.step()
        >>> _ = model(gk.randn(2, 3))
        >>> rec.steps
        2
        """
        return len(self._closed) + (1 if self._open else 0)

    def _fetch(self) -> list[dict[tuple[str, str, str], float]]:
        """Every recorded step's values on the host: one transfer for the new ones."""
        pending = self._closed[len(self._host):]
        steps = [*pending, self._open] if self._open else pending
        keys = [(i, k) for i, s in enumerate(steps) for k in s]
        values: list[float] = []
        if keys:
            tensors = [steps[i][k].astype(_dt.float64) for i, k in keys]
            devices: dict[Any, list[int]] = {}
            for j, t in enumerate(tensors):  # one transfer per device
                devices.setdefault(t.backend, []).append(j)
            values = [math.nan] * len(tensors)
            for backend, idx in devices.items():
                with backend.scope:
                    host = backend.to_numpy(stack([tensors[j] for j in idx]).array)
                for j, v in zip(idx, host.tolist()):
                    values[j] = v
        fetched: list[dict[tuple[str, str, str], float]] = [{} for _ in steps]
        for (i, k), v in zip(keys, values):
            fetched[i][k] = v
        self._host.extend(fetched[:len(pending)])
        return self._host + fetched[len(pending):]

    @property
    def history(self) -> dict[str, dict[str, dict[str, np.ndarray]]]:
        """Everything recorded, on the host: one float64 array over the steps per statistic.

        ``history["layers"][layer][stat]`` for each stat of `LAYER_STATS` and
        ``history["params"][param][stat]`` for each of `PARAM_STATS`. A value not
        recorded in a step is NaN (no saturation rule for the layer, no backward, the
        last step still open). Reading it transfers what was recorded since the last read.

        Returns
        -------
        dict
            ``{"layers": {name: {stat: array}}, "params": {name: {stat: array}}}``.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> from gradkit.diagnostics import Recorder
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
        >>> rec = Recorder(model)
        >>> out = model(gk.ones(2, 3))
        >>> sorted(rec.history["layers"]["1"])
        ['dead', 'grad_mean', 'grad_std', 'mean', 'saturated', 'std']
        >>> bool(gk.isnan(gk.tensor(rec.history["layers"]["1"]["grad_std"][0])))
        True
        """
        steps = self._fetch()

        def series(kind: str, name: str, stat: str) -> np.ndarray:
            return np.array([s.get((kind, name, stat), math.nan) for s in steps],
                            dtype=np.float64)

        return {"layers": {n: {s: series("layer", n, s) for s in LAYER_STATS}
                           for n in self.layers},
                "params": {n: {s: series("param", n, s) for s in PARAM_STATS}
                           for n in self.params}}

    def summary(self, step: int = -1) -> str:
        """A plain-text report of one step: one line per layer, then one per parameter.

        Parameters
        ----------
        step : int, optional
            The step to report (an index into the history; default the last one).

        Returns
        -------
        str
            Lines of the forms (each layer's on one line, wrapped here)::

                step 3 of 3
                layer 1 (Tanh): mean +0.02, std 0.63, saturated 3.12%, dead 0.00%
                    | grad mean +1.2e-05, std 3.4e-03
                param 0.weight (8, 4): grad:data 1.2e-02, update:data 10^-3.02

            Values not recorded print as ``n/a``; the root module's name is
            ``(model)``.

        Raises
        ------
        IndexError
            If no step has been recorded, or `step` is out of range.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> from gradkit.diagnostics import Recorder
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
        >>> rec = Recorder(model)
        >>> model(gk.zeros(2, 3)).sum().backward()
        >>> print(rec.summary())  # doctest: +ELLIPSIS
        step 1 of 1
        layer 1 (Tanh): mean ..., std ..., saturated 0.00%, dead 0.00% | grad mean ..., std ...
        param 0.weight (4, 3): grad:data n/a, update:data n/a
        """
        h = self.history
        n = self.steps
        if n == 0:
            raise IndexError("summary: nothing recorded yet (run a forward and backward)")
        if not -n <= step < n:
            raise IndexError(f"summary: step {step} out of range for {n} recorded steps")
        i = step % n
        lines = [f"step {i + 1} of {n}"]
        for name, kind in self.layers.items():
            s = {k: v[i] for k, v in h["layers"][name].items()}
            lines.append(
                f"layer {name or '(model)'} ({kind}): mean {_f(s['mean'], '+.2f')}, "
                f"std {_f(s['std'], '.2f')}, saturated {_pct(s['saturated'])}, "
                f"dead {_pct(s['dead'])} | grad mean {_f(s['grad_mean'], '+.1e')}, "
                f"std {_f(s['grad_std'], '.1e')}")
        shapes = dict(self._params)
        for name in self.params:
            s = {k: v[i] for k, v in h["params"][name].items()}
            ud = s["update_data"]
            lines.append(f"param {name} {tuple(shapes[name].shape)}: grad:data "
                         f"{_f(s['grad_data'], '.1e')}, update:data "
                         + ("n/a" if math.isnan(ud) else f"10^{ud:.2f}"))
        return "\n".join(lines)

    def histograms(self, kind: str = "activation", bins: int = 50
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Histograms of each layer's last recorded activations or gradients, on the host.

        Parameters
        ----------
        kind : {"activation", "grad"}, optional
            Which tensors: the layers' outputs, or the gradients that reached them.
        bins : int, optional
            Number of equal-width bins over each tensor's range (default 50).

        Returns
        -------
        dict of str to (ndarray, ndarray)
            Per layer (those with a recorded value), the density of each bin (it
            integrates to 1, as ``torch.histogram(..., density=True)``) and the bins'
            ``bins + 1`` edges.

        Raises
        ------
        ValueError
            If `kind` is neither "activation" nor "grad", or the Recorder was made with
            ``keep_last=False``.

        Examples
        --------
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> from gradkit.diagnostics import Recorder
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
        >>> rec = Recorder(model)
        >>> _ = model(gk.randn(8, 3))
        >>> density, edges = rec.histograms("activation", bins=10)["1"]
        >>> density.shape, edges.shape
        ((10,), (11,))
        """
        if kind not in ("activation", "grad"):
            raise ValueError(f"histograms: kind must be 'activation' or 'grad', not {kind!r}")
        if not self.keep_last:
            raise ValueError("histograms: this Recorder was made with keep_last=False")
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in self.layers:
            t = self._last.get((name, kind))
            if t is None:
                continue
            with t.backend.scope:
                t = t.astype(_dt.float64)
                lo, hi = t.backend.to_numpy(stack([t.min(), t.max()]).array).tolist()
                if not (math.isfinite(lo) and math.isfinite(hi)):
                    continue  # an overflow: no range to bin
                if lo == hi:  # a constant: one bin around it, as NumPy's histogram
                    lo, hi = lo - 0.5, hi + 0.5
                counts = t.backend.to_numpy(histc(t, bins, lo, hi).array)
            edges = np.linspace(lo, hi, bins + 1)
            out[name] = (counts / (counts.sum() * (hi - lo) / bins), edges)
        return out

    def plot(self, path: str | os.PathLike[str], bins: int = 50) -> Path:
        """Draw lecture 4's figures into an image file (needs matplotlib; Agg, no window).

        Three panels: each layer's activation histogram (last step), each layer's
        gradient histogram (last step), and each parameter's update:data ratio over the
        steps (log10) with the lecture's guide line at 1e-3.

        Parameters
        ----------
        path : str or os.PathLike
            The image file (its suffix picks the format: .png, .svg, .pdf, ...).
        bins : int, optional
            Histogram bins (default 50).

        Returns
        -------
        pathlib.Path
            `path`.

        Raises
        ------
        ImportError
            If matplotlib is not installed (`save` writes a text summary instead).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> from gradkit.diagnostics import Recorder
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
        >>> rec = Recorder(model)
        >>> model(gk.randn(8, 3)).sum().backward()
        >>> with tempfile.TemporaryDirectory() as d:
        ...     rec.plot(pathlib.Path(d) / "diagnostics.png").stat().st_size > 0
        True
        """
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as e:
            raise ImportError("plot needs matplotlib (pip install matplotlib); "
                              "Recorder.summary() and Recorder.save() work without it") from e
        path = Path(path)
        h = self.history
        fig = Figure(figsize=(15, 4))
        FigureCanvasAgg(fig)  # draws into memory: no window, no pyplot state
        axes = fig.subplots(1, 3)
        for ax, kind, title in ((axes[0], "activation", "activation distribution"),
                                (axes[1], "grad", "gradient distribution")):
            for name, (density, edges) in self.histograms(kind, bins).items():
                centres = (edges[:-1] + edges[1:]) / 2
                stats = h["layers"][name]
                i = -1
                label = (f"layer {name} ({self.layers[name]}): "
                         + (f"std {_f(stats['std'][i], '.2f')}, saturated "
                            f"{_pct(stats['saturated'][i])}" if kind == "activation" else
                            f"std {_f(stats['grad_std'][i], '.1e')}"))
                ax.plot(centres, density, label=label)
            ax.set_title(title)
            if kind == "grad":  # small values: a common power of ten, not long labels
                ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="small")
        ax = axes[2]
        for name in self.params:
            ax.plot(h["params"][name]["update_data"], label=name)
        ax.axhline(_GUIDE, color="k", linestyle="--", linewidth=1, label="1e-3")
        ax.set(title="update:data ratio", xlabel="step", ylabel="log10(std(update)/std(data))")
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        return path

    def save(self, path: str | os.PathLike[str], bins: int = 50) -> Path:
        """Write the plots to `path` when matplotlib is installed, else the text summary.

        Parameters
        ----------
        path : str or os.PathLike
            The image file; without matplotlib the summary goes to this path with the
            suffix ``.txt`` instead.
        bins : int, optional
            Histogram bins (default 50).

        Returns
        -------
        pathlib.Path
            The file written.

        Raises
        ------
        IndexError
            If nothing has been recorded yet.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> import gradkit as gk
        >>> from gradkit import nn
        >>> from gradkit.diagnostics import Recorder
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
        >>> rec = Recorder(model)
        >>> model(gk.randn(8, 3)).sum().backward()
        >>> with tempfile.TemporaryDirectory() as d:
        ...     written = rec.save(pathlib.Path(d) / "diagnostics.png")
        ...     written.suffix in (".png", ".txt") and written.stat().st_size > 0
        True
        """
        path = Path(path)
        text = self.summary()  # (raises when nothing is recorded)
        try:
            return self.plot(path, bins)
        except ImportError:
            out = path.with_suffix(".txt")
            out.write_text(text + "\n")
            return out

    def __repr__(self) -> str:
        return (f"Recorder({len(self.layers)} layers, {len(self.params)} parameters, "
                f"{self.steps} steps{'' if self._handles else ', removed'})")


def _f(value: float, spec: str) -> str:
    return "n/a" if math.isnan(value) else format(value, spec)


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.2f}%"

