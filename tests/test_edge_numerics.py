"""Numerics at the edges (issue 7): infinities, NaNs, zeros and empty tensors give
PyTorch 2.13's values and gradients, on every backend.

Each case in EDGES is a gradkit call, the same call in PyTorch, and float64 inputs that
all require grad. EXPECTED holds PyTorch's value and gradients (of the output's sum),
hard-coded so that the tests run without PyTorch; test_edge_matches_torch recomputes
them when PyTorch is installed.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the live comparison is skipped; EXPECTED still runs
    torch = TF = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
inf, nan = math.inf, math.nan


class Edge(NamedTuple):
    fn: object  # (device, *gradkit tensors) -> Tensor
    torch_fn: object  # (*torch tensors) -> torch.Tensor
    inputs: tuple  # float64 host arrays (or nested lists)


def _t(d, values):
    return gk.tensor(np.asarray(values, dtype=np.float64), device=d)


def _tt(values):
    return torch.tensor(values, dtype=torch.float64)


def _ti(values):
    return torch.tensor(values)


MASKED = [[0.0, -inf, 2.0, 1.0]]  # the logits: class 1 is masked out
TWO_ROWS = [[0.0, -inf, 2.0, 1.0], [1.0, 2.0, -inf, -inf]]
W4 = [1.0, 2.0, 3.0, 4.0]
X_AT_0 = [0.0, 2.0, -1.0]
BASE = [0.0, 0.0, 0.0, 0.0, 0.0, -1.0, -1.0, -2.0, 2.0]
EXPONENT = [0.0, 0.5, 2.0, -1.0, 3.0, 2.0, 0.5, 0.0, 0.0]

EDGES = {
    # ---- cross_entropy / nll_loss with a masked (-inf) logit
    "ce_masked": Edge(lambda d, x: F.cross_entropy(x, [0]),
                      lambda x: TF.cross_entropy(x, _ti([0])), (MASKED,)),
    "ce_masked_target2": Edge(lambda d, x: F.cross_entropy(x, [2]),
                              lambda x: TF.cross_entropy(x, _ti([2])), (MASKED,)),
    "ce_target_is_masked": Edge(lambda d, x: F.cross_entropy(x, [1]),
                                lambda x: TF.cross_entropy(x, _ti([1])), (MASKED,)),
    "ce_masked_none": Edge(lambda d, x: F.cross_entropy(x, [0, 3], reduction="none"),
                           lambda x: TF.cross_entropy(x, _ti([0, 3]), reduction="none"),
                           (TWO_ROWS,)),
    "ce_masked_sum": Edge(lambda d, x: F.cross_entropy(x, [0, 1], reduction="sum"),
                          lambda x: TF.cross_entropy(x, _ti([0, 1]), reduction="sum"),
                          (TWO_ROWS,)),
    "ce_masked_weight": Edge(lambda d, x: F.cross_entropy(x, [0, 1], weight=_t(d, W4)),
                             lambda x: TF.cross_entropy(x, _ti([0, 1]), weight=_tt(W4)),
                             (TWO_ROWS,)),
    "ce_masked_weight_none": Edge(
        lambda d, x: F.cross_entropy(x, [0, 1], weight=_t(d, W4), reduction="none"),
        lambda x: TF.cross_entropy(x, _ti([0, 1]), weight=_tt(W4), reduction="none"),
        (TWO_ROWS,)),
    "ce_masked_ignored_row": Edge(lambda d, x: F.cross_entropy(x, [0, -100]),
                                  lambda x: TF.cross_entropy(x, _ti([0, -100])), (TWO_ROWS,)),
    "ce_masked_ignore_index_1": Edge(
        lambda d, x: F.cross_entropy(x, [0, 1], ignore_index=1),
        lambda x: TF.cross_entropy(x, _ti([0, 1]), ignore_index=1), (TWO_ROWS,)),
    "ce_masked_smoothing": Edge(lambda d, x: F.cross_entropy(x, [0], label_smoothing=0.1),
                                lambda x: TF.cross_entropy(x, _ti([0]), label_smoothing=0.1),
                                (MASKED,)),
    "ce_smoothing_masked_ignored_row": Edge(
        lambda d, x: F.cross_entropy(x, [0, -100], label_smoothing=0.1),
        lambda x: TF.cross_entropy(x, _ti([0, -100]), label_smoothing=0.1),
        ([[0.0, 1.0, 2.0], [0.0, -inf, 2.0]],)),
    "ce_smoothing_masked_ignored_row_none": Edge(
        lambda d, x: F.cross_entropy(x, [0, -100], label_smoothing=0.1, reduction="none"),
        lambda x: TF.cross_entropy(x, _ti([0, -100]), label_smoothing=0.1, reduction="none"),
        ([[0.0, 1.0, 2.0], [0.0, -inf, 2.0]],)),
    "ce_smoothing_weight_masked": Edge(
        lambda d, x: F.cross_entropy(x, [0, 2], weight=_t(d, W4[:3]), label_smoothing=0.2),
        lambda x: TF.cross_entropy(x, _ti([0, 2]), weight=_tt(W4[:3]), label_smoothing=0.2),
        ([[0.0, 1.0, 2.0], [0.0, -inf, 2.0]],)),
    "ce_masked_3d": Edge(lambda d, x: F.cross_entropy(x, [[0, 1]]),
                         lambda x: TF.cross_entropy(x, _ti([[0, 1]])),
                         ([[[0.0, 1.0], [-inf, 2.0], [2.0, -inf]]],)),
    "ce_masked_unbatched": Edge(lambda d, x: F.cross_entropy(x, 0),
                                lambda x: TF.cross_entropy(x, _ti(0)), (MASKED[0],)),
    "ce_probabilities_masked": Edge(  # PyTorch's value is NaN here (0 * -inf)
        lambda d, x: F.cross_entropy(x, _t(d, [[1.0, 0.0, 0.0, 0.0]])),
        lambda x: TF.cross_entropy(x, _tt([[1.0, 0.0, 0.0, 0.0]])), (MASKED,)),
    "nll_log_softmax_masked": Edge(lambda d, x: F.nll_loss(F.log_softmax(x, dim=1), [0]),
                                   lambda x: TF.nll_loss(TF.log_softmax(x, 1), _ti([0])),
                                   (MASKED,)),
    "nll_masked_input": Edge(lambda d, x: F.nll_loss(x, [0]),
                             lambda x: TF.nll_loss(x, _ti([0])), (MASKED,)),
    "nll_masked_input_none": Edge(lambda d, x: F.nll_loss(x, [0], reduction="none"),
                                  lambda x: TF.nll_loss(x, _ti([0]), reduction="none"),
                                  (MASKED,)),
    "nll_masked_input_weight": Edge(lambda d, x: F.nll_loss(x, [0], weight=_t(d, W4)),
                                    lambda x: TF.nll_loss(x, _ti([0]), weight=_tt(W4)),
                                    (MASKED,)),
    # ---- logsumexp with infinities, and of nothing
    "logsumexp_neginf_row": Edge(lambda d, x: gk.logsumexp(x, axis=1),
                                 lambda x: torch.logsumexp(x, 1),
                                 ([[-inf, -inf], [0.0, 1.0]],)),
    "logsumexp_some_neginf": Edge(lambda d, x: gk.logsumexp(x, axis=1),
                                  lambda x: torch.logsumexp(x, 1), ([[-inf, 0.0, 1.0]],)),
    "logsumexp_posinf": Edge(lambda d, x: gk.logsumexp(x, axis=1),
                             lambda x: torch.logsumexp(x, 1),
                             ([[inf, 0.0, 1.0], [inf, inf, 0.0], [inf, -inf, 0.0]],)),
    "logsumexp_all_neginf": Edge(lambda d, x: gk.logsumexp(x),
                                 lambda x: torch.logsumexp(x, (0, 1)), ([[-inf, -inf]],)),
    "logsumexp_keepdims": Edge(lambda d, x: gk.logsumexp(x, axis=0, keepdims=True),
                               lambda x: torch.logsumexp(x, 0, keepdim=True),
                               ([[-inf, 1.0], [-inf, 2.0]],)),
    "logsumexp_empty": Edge(lambda d, x: gk.logsumexp(x, axis=0),
                            lambda x: torch.logsumexp(x, 0), (np.zeros((0, 3)),)),
    # ---- std / var of a constant: gradient 0 (PyTorch's std backward masks 0 / 0)
    "std_constant": Edge(lambda d, x: x.std(correction=1), lambda x: x.std(correction=1),
                         ([1.0, 1.0, 1.0],)),
    "std_constant_biased": Edge(lambda d, x: gk.std(x), lambda x: x.std(correction=0),
                                ([1.0, 1.0, 1.0],)),
    "std_constant_row": Edge(lambda d, x: x.std(axis=1, correction=1),
                             lambda x: x.std(1, correction=1), ([[1.0, 1.0], [1.0, 2.0]],)),
    "var_constant": Edge(lambda d, x: x.var(correction=1), lambda x: x.var(correction=1),
                         ([1.0, 1.0, 1.0],)),
    # ---- powers at 0 and below
    "pow_0": Edge(lambda d, x: x**0, lambda x: x**0, (X_AT_0,)),
    "pow_half": Edge(lambda d, x: x**0.5, lambda x: x**0.5, (X_AT_0,)),
    "pow_1_5": Edge(lambda d, x: x**1.5, lambda x: x**1.5, (X_AT_0,)),
    "pow_2": Edge(lambda d, x: x**2, lambda x: x**2, (X_AT_0,)),
    "pow_3": Edge(lambda d, x: x**3, lambda x: x**3, (X_AT_0,)),
    "pow_minus_1": Edge(lambda d, x: x**-1, lambda x: x**-1, (X_AT_0,)),
    "pow_minus_half": Edge(lambda d, x: x**-0.5, lambda x: x**-0.5, (X_AT_0,)),
    "pow_tensors": Edge(lambda d, x, e: x**e, lambda x, e: x**e, (BASE, EXPONENT)),
    "pow_zero_base": Edge(lambda d, e: 0.0**e, lambda e: 0.0**e, ([0.0, 0.5, 2.0, -1.0],)),
    "pow_negative_base": Edge(lambda d, e: (-1.0)**e, lambda e: (-1.0)**e,
                              ([0.0, 0.5, 2.0, -1.0],)),
    # ---- max / min with NaN: the NaN is the max and takes the gradient (as torch.max)
    "max_nan": Edge(lambda d, x: x.max(), lambda x: x.max(), ([1.0, nan, 3.0],)),
    "max_two_nans": Edge(lambda d, x: gk.max(x), lambda x: x.max(), ([nan, nan, 3.0],)),
    "max_axis_nan": Edge(lambda d, x: x.max(1).values, lambda x: x.max(1).values,
                         ([[1.0, nan, 3.0], [1.0, 3.0, 2.0]],)),
    "min_nan": Edge(lambda d, x: x.min(), lambda x: x.min(), ([1.0, nan, 3.0],)),
    "min_axis_nan": Edge(lambda d, x: gk.min(x, axis=1), lambda x: x.min(1).values,
                         ([[1.0, nan, 3.0], [1.0, 0.0, 2.0]],)),
    "max_axis_empty_rows": Edge(lambda d, x: x.max(1).values, lambda x: x.max(1).values,
                                (np.zeros((0, 3)),)),
    "maximum_nan": Edge(lambda d, a, b: gk.maximum(a, b), lambda a, b: torch.maximum(a, b),
                        ([nan, 1.0], [0.0, nan])),
    "minimum_nan": Edge(lambda d, a, b: gk.minimum(a, b), lambda a, b: torch.minimum(a, b),
                        ([nan, 1.0], [0.0, nan])),
    # ---- reductions over nothing: NaN (and var/std warn, see below), empty gradients
    "mean_empty": Edge(lambda d, x: x.mean(), lambda x: x.mean(), (np.zeros(0),)),
    "mean_empty_rows": Edge(lambda d, x: x.mean(1), lambda x: x.mean(1), (np.zeros((2, 0)),)),
    "mean_no_rows": Edge(lambda d, x: x.mean(0), lambda x: x.mean(0), (np.zeros((0, 3)),)),
    "var_empty": Edge(lambda d, x: x.var(correction=1), lambda x: x.var(correction=1),
                      (np.zeros(0),)),
    "var_empty_rows": Edge(lambda d, x: x.var(1, correction=1),
                           lambda x: x.var(1, correction=1), (np.zeros((2, 0)),)),
    "std_empty": Edge(lambda d, x: x.std(correction=0), lambda x: x.std(correction=0),
                      (np.zeros(0),)),
    "std_no_rows": Edge(lambda d, x: x.std(0, correction=1), lambda x: x.std(0, correction=1),
                        (np.zeros((0, 3)),)),
    "var_one_value": Edge(lambda d, x: x.var(correction=1), lambda x: x.var(correction=1),
                          ([1.0],)),
    "mse_loss_empty": Edge(lambda d, x: F.mse_loss(x, _t(d, np.zeros(0))),
                           lambda x: TF.mse_loss(x, _tt(np.zeros(0))), (np.zeros(0),)),
    "softmax_empty_axis": Edge(lambda d, x: F.softmax(x, dim=1), lambda x: TF.softmax(x, 1),
                               (np.zeros((2, 0)),)),
    "log_softmax_empty_axis": Edge(lambda d, x: F.log_softmax(x, dim=1),
                                   lambda x: TF.log_softmax(x, 1), (np.zeros((2, 0)),)),
    # ---- binary_cross_entropy at probabilities 0 and 1: PyTorch's finite gradient
    "bce_saturated": Edge(
        lambda d, x, t: F.binary_cross_entropy(x, t, reduction="none"),
        lambda x, t: TF.binary_cross_entropy(x, t, reduction="none"),
        ([0.0, 0.0, 1.0, 1.0, 0.3], [1.0, 0.0, 1.0, 0.0, 0.6])),
    # ---- softmax family with infinities (right before issue 7; kept as guards)
    "softmax_masked": Edge(lambda d, x: F.softmax(x, dim=1) * _t(d, [1.0, 2.0, 3.0]),
                           lambda x: TF.softmax(x, 1) * _tt([1.0, 2.0, 3.0]),
                           ([[-inf, 0.0, 1.0], [-inf, -inf, -inf], [inf, 0.0, 1.0]],)),
    "log_softmax_masked": Edge(lambda d, x: F.log_softmax(x, dim=1) * _t(d, [1.0, 2.0, 3.0]),
                               lambda x: TF.log_softmax(x, 1) * _tt([1.0, 2.0, 3.0]),
                               ([[-inf, 0.0, 1.0]],)),
    "bce_with_logits_inf": Edge(
        lambda d, x: F.binary_cross_entropy_with_logits(x, _t(d, [1.0, 0.0, 1.0, 0.0, 0.5]),
                                                        reduction="none"),
        lambda x: TF.binary_cross_entropy_with_logits(x, _tt([1.0, 0.0, 1.0, 0.0, 0.5]),
                                                      reduction="none"),
        ([inf, inf, -inf, -inf, inf],)),
}

# PyTorch 2.13's value and gradients for each case (float64), as printed by
# `python tests/test_edge_numerics.py` (with PyTorch installed).
EXPECTED = {
    "bce_saturated": (
        [100.0, 0.0, -0.0, 100.0, 0.8650536601710546],
        [[-1000000003995.8029, 0.0, 0.0, 1000000003995.8029, -1.4285714285714286], [inf, inf, -inf,
         -inf, 0.8472978603872036]]),
    "bce_with_logits_inf": ([nan, inf, nan, nan, inf], [[0.0, 1.0, -1.0, 0.0, 0.5]]),
    "ce_masked": (
        2.4076059644443806,
        [[[-0.9099694268296196, 0.0, 0.6652409557748218, 0.24472847105479764]]]),
    "ce_masked_3d": (
        1.2200948492805979,
        [[[[-0.4403985389889412, 0.13447071068499755], [0.0, -0.13447071068499755],
         [0.44039853898894116, 0.0]]]]),
    "ce_masked_ignore_index_1": (
        2.4076059644443806,
        [[[-0.9099694268296196, 0.0, 0.6652409557748218, 0.24472847105479764], [0.0, 0.0, 0.0,
         0.0]]]),
    "ce_masked_ignored_row": (
        2.4076059644443806,
        [[[-0.9099694268296196, 0.0, 0.6652409557748218, 0.24472847105479764], [0.0, 0.0, 0.0,
         0.0]]]),
    "ce_masked_none": (
        [2.4076059644443806, inf],
        [[[-0.9099694268296196, 0.0, 0.6652409557748218, 0.24472847105479764], [0.2689414213699951,
         0.7310585786300049, 0.0, -1.0]]]),
    "ce_masked_smoothing": (
        inf,
        [[[-0.8349694268296196, -0.025, 0.6402409557748218, 0.21972847105479765]]]),
    "ce_masked_sum": (
        2.7208676519626036,
        [[[-0.9099694268296196, 0.0, 0.6652409557748218, 0.24472847105479764], [0.2689414213699951,
         -0.2689414213699951, 0.0, 0.0]]]),
    "ce_masked_target2": (
        0.4076059644443804,
        [[[0.09003057317038043, 0.0, -0.3347590442251782, 0.24472847105479764]]]),
    "ce_masked_unbatched": (
        2.4076059644443806,
        [[-0.9099694268296196, 0.0, 0.6652409557748218, 0.24472847105479764]]),
    "ce_masked_weight": (
        1.0113764464936088,
        [[[-0.30332314227653984, 0.0, 0.2217469852582739, 0.08157615701826587],
         [0.17929428091333005, -0.17929428091333005, 0.0, 0.0]]]),
    "ce_masked_weight_none": (
        [2.4076059644443806, 0.6265233750364457],
        [[[-0.9099694268296196, 0.0, 0.6652409557748218, 0.24472847105479764], [0.5378828427399902,
         -0.5378828427399902, 0.0, 0.0]]]),
    "ce_probabilities_masked": (
        nan,
        [[[-0.9099694268296196, 0.0, 0.6652409557748218, 0.24472847105479764]]]),
    "ce_smoothing_masked_ignored_row": (
        2.3076059644443805,
        [[[-0.8433027601629529, 0.21139513772146432, 0.6319076224414885], [0.0, 0.0, 0.0]]]),
    "ce_smoothing_masked_ignored_row_none": (
        [2.3076059644443805, 0.0],
        [[[-0.8433027601629529, 0.21139513772146432, 0.6319076224414885], [0.0, 0.0, 0.0]]]),
    "ce_smoothing_weight_masked": (
        inf,
        [[[-0.18965749471555254, 0.040085207983105955, 0.14957228673244652], [0.06677537874881563,
         -0.03333333333333333, -0.033442045415482353]]]),
    "ce_target_is_masked": (
        inf,
        [[[0.09003057317038043, -1.0, 0.6652409557748218, 0.24472847105479764]]]),
    "log_softmax_empty_axis": (np.zeros((2, 0)), [np.zeros((2, 0))]),
    "log_softmax_masked": (
        [[-inf, -2.6265233750364456, -0.9397850625546686]],
        [[[1.0, 0.3863514717800294, -1.3863514717800294]]]),
    "logsumexp_all_neginf": (-inf, [[[nan, nan]]]),
    "logsumexp_empty": ([-inf, -inf, -inf], [np.zeros((0, 3))]),
    "logsumexp_keepdims": (
        [[-inf, 2.313261687518223]],
        [[[nan, 0.26894142136999505], [nan, 0.7310585786300048]]]),
    "logsumexp_neginf_row": (
        [-inf, 1.3132616875182228],
        [[[nan, nan], [0.2689414213699951, 0.7310585786300049]]]),
    "logsumexp_posinf": ([inf, inf, inf], [[[nan, 0.0, 0.0], [nan, nan, 0.0], [nan, 0.0, 0.0]]]),
    "logsumexp_some_neginf": (
        [1.3132616875182228],
        [[[0.0, 0.2689414213699951, 0.7310585786300049]]]),
    "max_axis_empty_rows": (np.zeros((0,)), [np.zeros((0, 3))]),
    "max_axis_nan": ([nan, 3.0], [[[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]]),
    "max_nan": (nan, [[0.0, 1.0, 0.0]]),
    "max_two_nans": (nan, [[0.5, 0.5, 0.0]]),
    "maximum_nan": ([nan, nan], [[1.0, 1.0], [1.0, 1.0]]),
    "mean_empty": (nan, [np.zeros((0,))]),
    "mean_empty_rows": ([nan, nan], [np.zeros((2, 0))]),
    "mean_no_rows": ([nan, nan, nan], [np.zeros((0, 3))]),
    "min_axis_nan": ([nan, 0.0], [[[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]]),
    "min_nan": (nan, [[0.0, 1.0, 0.0]]),
    "minimum_nan": ([nan, nan], [[1.0, 1.0], [1.0, 1.0]]),
    "mse_loss_empty": (nan, [np.zeros((0,))]),
    "nll_log_softmax_masked": (
        2.4076059644443806,
        [[[-0.9099694268296196, 0.0, 0.6652409557748218, 0.24472847105479764]]]),
    "nll_masked_input": (0.0, [[[-1.0, 0.0, 0.0, 0.0]]]),
    "nll_masked_input_none": ([-0.0], [[[-1.0, 0.0, 0.0, 0.0]]]),
    "nll_masked_input_weight": (0.0, [[[-1.0, 0.0, 0.0, 0.0]]]),
    "pow_0": ([1.0, 1.0, 1.0], [[0.0, 0.0, 0.0]]),
    "pow_1_5": ([0.0, 2.8284271247461903, nan], [[0.0, 2.1213203435596424, nan]]),
    "pow_2": ([0.0, 4.0, 1.0], [[0.0, 4.0, -2.0]]),
    "pow_3": ([0.0, 8.0, -1.0], [[0.0, 12.0, 3.0]]),
    "pow_half": ([0.0, 1.414213562373095, nan], [[inf, 0.35355339059327373, nan]]),
    "pow_minus_1": ([inf, 0.5, -1.0], [[-inf, -0.25, -1.0]]),
    "pow_minus_half": ([inf, 0.7071067811865475, nan], [[-inf, -0.1767766952966369, nan]]),
    "pow_negative_base": ([1.0, nan, 1.0, -1.0], [[nan, nan, nan, nan]]),
    "pow_tensors": (
        [1.0, 0.0, 0.0, inf, 0.0, 1.0, nan, 1.0, 1.0],
        [[0.0, inf, 0.0, -inf, 0.0, -2.0, nan, 0.0, 0.0], [0.0, 0.0, 0.0, -inf, 0.0, nan, nan, nan,
         0.6931471805599453]]),
    "pow_zero_base": ([1.0, 0.0, 0.0, inf], [[0.0, 0.0, 0.0, -inf]]),
    "softmax_empty_axis": (np.zeros((2, 0)), [np.zeros((2, 0))]),
    "softmax_masked": (
        [[0.0, 0.5378828427399903, 2.193175735890015], [nan, nan, nan], [nan, nan, nan]],
        [[[-0.0, -0.19661193324148196, 0.1966119332414816], [nan, nan, nan], [nan, nan, nan]]]),
    "std_constant": (0.0, [[0.0, 0.0, 0.0]]),
    "std_constant_biased": (0.0, [[0.0, 0.0, 0.0]]),
    "std_constant_row": (
        [0.0, 0.7071067811865476],
        [[[0.0, 0.0], [-0.7071067811865475, 0.7071067811865475]]]),
    "std_empty": (nan, [np.zeros((0,))]),
    "std_no_rows": ([nan, nan, nan], [np.zeros((0, 3))]),
    "var_constant": (0.0, [[0.0, 0.0, 0.0]]),
    "var_empty": (nan, [np.zeros((0,))]),
    "var_empty_rows": ([nan, nan], [np.zeros((2, 0))]),
    "var_one_value": (nan, [[nan]]),
}


def _run_gradkit(edge, device):
    xs = [gk.tensor(np.asarray(a, dtype=np.float64), device=device, requires_grad=True)
          for a in edge.inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's 'invalid value', var's no-dof warning
        out = edge.fn(device, *xs)
        out.sum().backward()
    return out.numpy(), [x.grad.numpy() for x in xs]


def _run_torch(edge):
    xs = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
          for a in edge.inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = edge.torch_fn(*xs)
        out.sum().backward()
    return out.detach().numpy(), [x.grad.numpy() for x in xs]


def _same(got, expected, what):
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, err_msg=what)


@pytest.mark.parametrize("name", sorted(EDGES))
def test_edge_matches_torch_values(name, device):
    value, grads = _run_gradkit(EDGES[name], device)
    expected_value, expected_grads = EXPECTED[name]
    _same(value, expected_value, f"{name}: value")
    for i, (g, e) in enumerate(zip(grads, expected_grads)):
        _same(g, e, f"{name}: gradient of input {i}")


@needs_torch
@pytest.mark.parametrize("name", sorted(EDGES))
def test_edge_matches_torch(name, device):
    value, grads = _run_gradkit(EDGES[name], device)
    expected_value, expected_grads = _run_torch(EDGES[name])
    _same(value, expected_value, f"{name}: value")
    for i, (g, e) in enumerate(zip(grads, expected_grads)):
        _same(g, e, f"{name}: gradient of input {i}")


def test_expected_table_is_complete():
    assert sorted(EXPECTED) == sorted(EDGES)


def test_cross_entropy_masked_logit_float32(device):
    x = gk.tensor([[0.0, -inf, 2.0, 1.0]], device=device, requires_grad=True)
    loss = F.cross_entropy(x, [0])
    loss.backward()
    assert loss.dtype == gk.float32 and x.grad.dtype == gk.float32
    np.testing.assert_allclose(loss.numpy(), 2.4076059644443806, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), EXPECTED["ce_masked"][1][0], rtol=1e-6,
                               atol=1e-7)


@pytest.mark.parametrize("reduce", ["var", "std"])
def test_no_degrees_of_freedom_warns_as_torch(reduce, device):
    x = gk.tensor([1.0, 2.0], dtype=gk.float64, device=device)
    with pytest.warns(UserWarning, match=rf"^{reduce}\(\): degrees of freedom is <= 0"):
        out = getattr(x, reduce)(correction=2)
    assert out.numpy() == inf  # 0.5 / 0, as PyTorch (whose gradient here is inf or NaN)
    with pytest.warns(UserWarning, match="degrees of freedom"):
        getattr(gk, reduce)(gk.zeros(2, 0, device=device), axis=0)


def test_mean_of_nothing_is_nan_without_a_warning(device):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PyTorch warns for var/std only, not for mean
        assert np.isnan(gk.zeros(0, device=device).mean().numpy())
        assert gk.ones(3, device=device).std(correction=1).numpy() == 0.0


def test_max_over_an_empty_axis_names_the_shape(device):
    with pytest.raises(gk.ShapeError, match=r"size 0.*\(2, 0\)"):
        gk.zeros(2, 0, device=device).max(1)


@pytest.mark.parametrize("c", [0, 2, 3])
def test_pow_at_zero_double_backward(c, device):
    x = gk.tensor([0.0, 0.7, -1.3], dtype=gk.float64, device=device, requires_grad=True)
    assert gk.gradcheck(lambda t: t**c, [x])
    assert gk.gradgradcheck(lambda t: t**c, [x])


def test_pow_tensor_exponent_double_backward_away_from_zero(device):
    a = gk.tensor([0.5, 1.7, 2.2], dtype=gk.float64, device=device, requires_grad=True)
    b = gk.tensor([0.0, -1.5, 2.5], dtype=gk.float64, device=device, requires_grad=True)
    assert gk.gradgradcheck(lambda x, e: x**e, [a, b])


def _literal(a):
    a = np.asarray(a)
    if a.size == 0:
        return f"np.zeros({a.shape})"
    return repr(a.tolist())


def _expected_from_torch():  # pragma: no cover - regenerates EXPECTED by hand
    for name in sorted(EDGES):
        value, grads = _run_torch(EDGES[name])
        grads = ", ".join(_literal(g) for g in grads)
        print(f'    "{name}": ({_literal(value)}, [{grads}]),')  # then wrap at 100 columns


if __name__ == "__main__":  # pragma: no cover
    _expected_from_torch()


# ---- histograms of a constant: a range of width zero is widened, as NumPy and PyTorch ----
@pytest.mark.parametrize("range_", [None, (2.0, 2.0)], ids=["data-range", "given-range"])
@pytest.mark.parametrize("density", [False, True], ids=["counts", "density"])
@pytest.mark.parametrize("bins", [1, 4, 5])
def test_histogram_of_a_constant_widens_the_range_as_numpy(bins, density, range_, device):
    x = gk.full((3,), 2.0, device=device)
    hist, edges = gk.histogram(x, bins, range=range_, density=density)
    ref_hist, ref_edges = np.histogram(np.full(3, 2.0, np.float32), bins, range=range_,
                                       density=density)
    assert hist.device == edges.device == x.device
    assert not np.isnan(hist.numpy()).any()
    np.testing.assert_allclose(hist.numpy(), ref_hist, rtol=1e-6)
    np.testing.assert_allclose(edges.numpy(), ref_edges, rtol=1e-6)
    if torch is not None:
        t_hist, t_edges = torch.histogram(torch.full((3,), 2.0), bins, range=range_,
                                          density=density)
        np.testing.assert_allclose(hist.numpy(), t_hist.numpy(), rtol=1e-6)
        np.testing.assert_allclose(edges.numpy(), t_edges.numpy(), rtol=1e-6)


def test_histc_of_a_constant_as_torch(device):
    # torch.histc widens a constant's range to [v - 1, v + 1]: the value in the middle bin
    x = gk.full((3,), 2.0, device=device)
    np.testing.assert_array_equal(gk.histc(x, bins=4).numpy(), [0.0, 0.0, 3.0, 0.0])
    np.testing.assert_array_equal(gk.histc(x, bins=3).numpy(), [0.0, 3.0, 0.0])


def test_histograms_of_an_empty_tensor_are_zeros(device):
    # as torch.histc / torch.histogram and numpy.histogram: zero counts; the data range of
    # no data is [0, 1] for histogram (it used to raise NumPy's zero-size min error)
    x = gk.tensor([], device=device)
    np.testing.assert_array_equal(gk.histc(x, bins=4).numpy(), np.zeros(4))
    hist, edges = gk.histogram(x, 4)
    ref_hist, ref_edges = np.histogram(np.zeros(0, np.float32), 4)
    np.testing.assert_array_equal(hist.numpy(), ref_hist)
    np.testing.assert_allclose(edges.numpy(), ref_edges)
    if torch is not None:
        np.testing.assert_allclose(edges.numpy(), torch.histogram(torch.tensor([]), 4)[1])
