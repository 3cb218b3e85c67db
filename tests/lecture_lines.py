"""Lecture-style PyTorch lines, to run literally after `import gradkit as torch`.

Each entry of LINES is (id, code): a short program in the style of the "Neural Networks:
Zero to Hero" lectures (micrograd, makemore parts 1-5, the GPT lecture). A program reads
only the names `torch`, `F` (torch.nn.functional) and `nn` (torch.nn) and leaves its result
in `out`. Inputs are literal or derived from torch.arange / linspace; where a line draws
random numbers, only what does not depend on the generator's stream is kept (shapes, dtypes,
statistics far inside their bounds, or samples from one-hot probabilities).

The values real PyTorch gives are stored in lecture_expected.json beside this file, so the
gradkit side runs where torch is not installed. Regenerate them (with torch installed) by

    python tests/lecture_lines.py --regenerate

`encode` turns a result (a tensor of either library, a dtype, a shape, a tuple, a Python
scalar or string) into plain JSON data; `compare` says how two encoded results differ.
"""

# ruff: noqa: E501  (the lecture lines are kept as written in the lectures, some past 100 columns)
from __future__ import annotations

import json
import math
import sys
import textwrap
from pathlib import Path

import numpy as np

EXPECTED_PATH = Path(__file__).with_name("lecture_expected.json")

LECTURES = {
    "mg": "micrograd (lecture 1) in torch",
    "bg": "makemore 1: bigram counts and the one-layer net",
    "mlp": "makemore 2: MLP",
    "bn": "makemore 3: activations, gradients, BatchNorm",
    "nj": "makemore 4: backprop ninja",
    "wn": "makemore 5: WaveNet",
    "gpt": "lecture 7: GPT from scratch (and nanoGPT)",
    "misc": "everyday tensor basics",
}

_RAW = [
    # ---- micrograd (lecture 1): the torch version of the neuron, and small graphs ------
    ("mg_Tensor_double", """
        x1 = torch.Tensor([2.0]).double()
        out = (x1.dtype, x1.shape)
    """),
    ("mg_requires_grad_attr", """
        x1 = torch.Tensor([2.0]).double(); x1.requires_grad = True
        out = (x1.requires_grad, x1.is_leaf, x1.grad is None)
    """),
    ("mg_neuron_forward", """
        x1 = torch.Tensor([2.0]).double(); x1.requires_grad = True
        w1 = torch.Tensor([-3.0]).double(); w1.requires_grad = True
        b = torch.Tensor([6.8813735870195432]).double(); b.requires_grad = True
        o = torch.tanh(x1*w1 + b)
        out = (o.data.item(), o.dtype)
    """),
    ("mg_neuron_backward", """
        x1 = torch.tensor([2.0], dtype=torch.double, requires_grad=True)
        x2 = torch.tensor([0.0], dtype=torch.double, requires_grad=True)
        w1 = torch.tensor([-3.0], dtype=torch.double, requires_grad=True)
        w2 = torch.tensor([1.0], dtype=torch.double, requires_grad=True)
        o = torch.tanh(x1*w1 + x2*w2 + 6.8813735870195432); o.backward()
        out = (x2.grad.item(), w2.grad.item(), x1.grad.item(), w1.grad.item())
    """),
    ("mg_item_float", """
        out = torch.tensor(3.5).item()
    """),
    ("mg_scalar_expr_grads", """
        a = torch.tensor(2.0, requires_grad=True); b = torch.tensor(-3.0, requires_grad=True)
        c = a*b + b**2; c.backward()
        out = (c, a.grad, b.grad)
    """),
    ("mg_grad_accumulates", """
        a = torch.tensor(3.0, requires_grad=True)
        (a*a).backward(); (a*a).backward()
        out = a.grad
    """),
    ("mg_reuse_node", """
        a = torch.tensor(3.0, requires_grad=True)
        b = a + a; b.backward()
        out = a.grad
    """),
    ("mg_tanh_via_exp", """
        x = torch.tensor(0.5, requires_grad=True)
        e = (2*x).exp(); o = (e - 1)/(e + 1); o.backward()
        out = (o.item(), x.grad.item())
    """),
    ("mg_pow_minus_one", """
        x = torch.tensor(4.0, requires_grad=True)
        (x**-1).backward()
        out = x.grad
    """),
    ("mg_reflected_ops", """
        x = torch.tensor([1.0, 2.0, 4.0])
        out = (1 - x, 2 + x, 3 * x, 1 / x, 2 ** x)
    """),
    ("mg_Tensor_from_ints", """
        out = torch.Tensor([[1, 2], [3, 4]])
    """),
    ("mg_python_sum_loss", """
        ys = torch.tensor([1.0, -1.0, -1.0, 1.0])
        ypred = torch.tensor([0.8, -0.5, -0.9, 0.7], requires_grad=True)
        loss = sum((yout - ygt)**2 for ygt, yout in zip(ys, ypred)); loss.backward()
        out = (loss, ypred.grad)
    """),
    ("mg_tiny_mlp_step", """
        xs = torch.tensor([[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]])
        ys = torch.tensor([1.0, -1.0, -1.0, 1.0])
        W = torch.linspace(-1, 1, 12).view(3, 4).requires_grad_()
        loss = ((torch.tanh(xs @ W).sum(1) - ys)**2).sum(); loss.backward()
        W.data += -0.05 * W.grad
        out = (loss.item(), W)
    """),
    ("mg_grad_zero_", """
        p = torch.tensor([1.0, 2.0], requires_grad=True)
        (p * p).sum().backward(); p.grad.zero_()
        out = p.grad
    """),
    ("mg_nn_Linear_shapes", """
        layer = nn.Linear(3, 4)
        out = (layer.weight.shape, layer.bias.shape, layer.weight.requires_grad)
    """),
    ("mg_parameter_count", """
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1))
        out = sum(p.numel() for p in model.parameters())
    """),
    ("mg_relu_grad", """
        x = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
        x.relu().sum().backward()
        out = x.grad
    """),
    ("mg_data_item_loop", """
        ypred = torch.tensor([0.8, -0.5, -0.9])
        out = [y.data.item() for y in ypred]
    """),

    # ---- makemore 1: bigram counts, sampling, the one-layer network --------------------
    ("bg_zeros_int32", """
        N = torch.zeros((27, 27), dtype=torch.int32)
        out = (N.shape, N.dtype, N.dtype == torch.int32)
    """),
    ("bg_count_bigrams", """
        N = torch.zeros((27, 27), dtype=torch.int32); stoi = lambda c: 0 if c == '.' else ord(c) - 96
        for w in ['emma', 'olivia', 'ava']:
            chs = ['.'] + list(w) + ['.']
            for ch1, ch2 in zip(chs, chs[1:]):
                N[stoi(ch1), stoi(ch2)] += 1
        out = N
    """),
    ("bg_setitem_item", """
        N = torch.zeros((3, 3), dtype=torch.int32)
        N[1, 2] = 5
        out = (N[1, 2].item(), N[1, 2], N.sum().item())
    """),
    ("bg_row_probs", """
        N = torch.tensor([[1, 2, 3], [0, 4, 4]])
        p = N[0].float(); p = p / p.sum()
        out = p
    """),
    ("bg_P_normalize_keepdim", """
        N = torch.tensor([[1, 2, 3], [0, 4, 4], [5, 0, 5]], dtype=torch.int32)
        P = N.float(); P /= P.sum(1, keepdim=True)
        out = (P, P.sum(1))
    """),
    ("bg_P_smoothing_keepdims", """
        N = torch.tensor([[1, 2, 3], [0, 4, 4], [5, 0, 5]], dtype=torch.int32)
        P = (N+1).float(); P /= P.sum(1, keepdims=True)
        out = P
    """),
    ("bg_broadcast_bug", """
        P = torch.tensor([[1, 2, 3], [0, 4, 4], [5, 0, 5]]).float()
        out = (P / P.sum(1), P.sum(1).shape, P.sum(1, keepdim=True).shape)
    """),
    ("bg_sum_dim0_shape", """
        N = torch.ones(27, 27)
        out = (N.sum(0, keepdim=True).shape, N.sum(0).shape, N.sum().shape)
    """),
    ("bg_generator_rand_shape", """
        g = torch.Generator().manual_seed(2147483647)
        p = torch.rand(3, generator=g)
        out = (p.shape, p.dtype, bool(((p >= 0) & (p < 1)).all()))
    """),
    ("bg_multinomial_onehot", """
        g = torch.Generator().manual_seed(2147483647)
        p = torch.tensor([0.0, 0.0, 1.0])
        out = torch.multinomial(p, num_samples=5, replacement=True, generator=g)
    """),
    ("bg_multinomial_item", """
        g = torch.Generator().manual_seed(2147483647)
        p = torch.tensor([0.0, 1.0, 0.0, 0.0])
        out = torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()
    """),
    ("bg_multinomial_stats", """
        g = torch.Generator().manual_seed(2147483647)
        s = torch.multinomial(torch.tensor([0.6, 0.3, 0.1]), 20000, replacement=True, generator=g)
        out = (s.shape, s.dtype, abs((s == 0).float().mean().item() - 0.6) < 0.03)
    """),
    ("bg_sample_loop", """
        P = torch.zeros((4, 4)); P[0, 1] = P[1, 2] = P[2, 3] = P[3, 0] = 1.0
        g = torch.Generator().manual_seed(2147483647); ix = 0; out = []
        while True:
            ix = torch.multinomial(P[ix], num_samples=1, replacement=True, generator=g).item()
            out.append(ix)
            if ix == 0: break
    """),
    ("bg_log_likelihood", """
        P = torch.tensor([[0.1, 0.9], [0.5, 0.5]]); log_likelihood = 0.0; n = 0
        for ix1, ix2 in [(0, 1), (1, 0), (1, 1)]:
            log_likelihood += torch.log(P[ix1, ix2]); n += 1
        nll = -log_likelihood
        out = (nll / n, f'{nll/n:.4f}')
    """),
    ("bg_one_hot", """
        xs = torch.tensor([0, 5, 13, 13, 1])
        xenc = F.one_hot(xs, num_classes=27)
        out = (xenc.shape, xenc.dtype, xenc[1])
    """),
    ("bg_one_hot_float", """
        xenc = F.one_hot(torch.tensor([0, 5, 13]), num_classes=27).float()
        out = (xenc.dtype, xenc.sum(1))
    """),
    ("bg_randn_requires_grad", """
        g = torch.Generator().manual_seed(2147483647)
        W = torch.randn((27, 27), generator=g, requires_grad=True)
        out = (W.shape, W.dtype, W.requires_grad, W.is_leaf)
    """),
    ("bg_forward_loss", """
        xs = torch.tensor([0, 5, 13, 13, 1]); ys = torch.tensor([5, 13, 13, 1, 0])
        W = torch.linspace(-2, 2, 27*27).view(27, 27); num = xs.nelement()
        logits = F.one_hot(xs, num_classes=27).float() @ W
        counts = logits.exp(); probs = counts / counts.sum(1, keepdims=True)
        out = (-probs[torch.arange(num), ys].log().mean(), probs[0].sum())
    """),
    ("bg_backward_update", """
        xs = torch.tensor([0, 5, 13, 13, 1]); ys = torch.tensor([5, 13, 13, 1, 0])
        W = torch.linspace(-2, 2, 27*27).view(27, 27); W.requires_grad = True
        probs = F.softmax(F.one_hot(xs, num_classes=27).float() @ W, dim=1)
        loss = -probs[torch.arange(5), ys].log().mean() + 0.01*(W**2).mean()
        W.grad = None; loss.backward(); W.data += -50 * W.grad
        out = (loss.item(), W[:, :4])
    """),
    ("bg_onehot_matmul_is_index", """
        xs = torch.tensor([0, 5, 13]); W = torch.linspace(-2, 2, 27*27).view(27, 27)
        out = torch.allclose(F.one_hot(xs, num_classes=27).float() @ W, W[xs])
    """),
    ("bg_nelement", """
        xs = torch.tensor([0, 5, 13, 13, 1])
        out = (xs.nelement(), xs.numel(), len(xs))
    """),
    ("bg_index_with_0d", """
        itos = ['.', 'a', 'b', 'c']
        out = ''.join(itos[ix] for ix in torch.tensor([1, 3, 2, 0]))
    """),
    ("bg_item_loop_decode", """
        N = torch.tensor([[0, 3], [1, 2]])
        out = [N[i, j].item() for i in range(2) for j in range(2)]
    """),
    ("bg_log_of_zero", """
        P = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
        out = (P.log(), -P.log().sum().item())
    """),
    ("bg_probs_index_pairs", """
        probs = torch.tensor([[0.1, 0.9], [0.5, 0.5], [0.3, 0.7]]); ys = torch.tensor([1, 0, 1])
        out = probs[torch.arange(3), ys]
    """),

    # ---- makemore 2: MLP ---------------------------------------------------------------
    ("mlp_build_dataset", """
        X, Y = [], []; context = [0] * 3
        for ix in [5, 13, 13, 1, 0]:
            X.append(context); Y.append(ix); context = context[1:] + [ix]
        X = torch.tensor(X); Y = torch.tensor(Y)
        out = (X, Y, X.dtype, X.shape)
    """),
    ("mlp_C_of_X", """
        C = torch.arange(27*2).float().view(27, 2)
        X = torch.tensor([[0, 0, 5], [0, 5, 13]])
        out = (C[X].shape, C[X])
    """),
    ("mlp_C_int_index", """
        C = torch.arange(27*2).float().view(27, 2)
        out = (C[5], torch.allclose(C[5], F.one_hot(torch.tensor(5), num_classes=27).float() @ C))
    """),
    ("mlp_C_list_index", """
        C = torch.arange(27*2).float().view(27, 2)
        out = (C[[5, 6, 7]], C[torch.tensor([5, 6, 7, 7, 7])])
    """),
    ("mlp_C_X_row_col", """
        C = torch.arange(27*2).float().view(27, 2); X = torch.tensor([[0, 0, 5], [0, 5, 13]])
        out = (C[X][1, 2], C[13], X[1, 2])
    """),
    ("mlp_cat_slices", """
        emb = torch.arange(2*3*2).float().view(2, 3, 2)
        out = torch.cat([emb[:, 0, :], emb[:, 1, :], emb[:, 2, :]], 1)
    """),
    ("mlp_cat_unbind", """
        emb = torch.arange(2*3*2).float().view(2, 3, 2)
        out = torch.cat(torch.unbind(emb, 1), 1)
    """),
    ("mlp_view_minus_one", """
        emb = torch.arange(2*3*2).float().view(2, 3, 2)
        out = (emb.view(-1, 6), (emb.view(-1, 6) == torch.cat(torch.unbind(emb, 1), 1)).all().item())
    """),
    ("mlp_view_shapes", """
        a = torch.arange(18)
        out = (a.view(2, 9).shape, a.view(9, 2).shape, a.view(3, 3, 2).shape, a.view(3, 3, 2)[1])
    """),
    ("mlp_view_shape0", """
        emb = torch.arange(2*3*2).float().view(2, 3, 2)
        out = emb.view(emb.shape[0], 6)
    """),
    ("mlp_hidden_layer", """
        emb = torch.linspace(-1, 1, 2*3*2).view(2, 3, 2)
        W1 = torch.linspace(-1, 1, 6*4).view(6, 4); b1 = torch.linspace(0, 1, 4)
        h = torch.tanh(emb.view(-1, 6) @ W1 + b1)
        out = (h.shape, h)
    """),
    ("mlp_manual_vs_cross_entropy", """
        logits = torch.tensor([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]]); Y = torch.tensor([2, 0])
        counts = logits.exp(); prob = counts / counts.sum(1, keepdims=True)
        loss = -prob[torch.arange(2), Y].log().mean()
        out = (loss, F.cross_entropy(logits, Y), torch.allclose(loss, F.cross_entropy(logits, Y)))
    """),
    ("mlp_cross_entropy_extreme", """
        logits = torch.tensor([[-100.0, -3.0, 0.0, 100.0]])
        out = (logits.exp(), F.cross_entropy(logits, torch.tensor([3])))
    """),
    ("mlp_cross_entropy_offset", """
        logits = torch.tensor([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]]); Y = torch.tensor([2, 0])
        out = (F.cross_entropy(logits + 10, Y) - F.cross_entropy(logits, Y)).abs().item() < 1e-6
    """),
    ("mlp_params_count", """
        C = torch.ones((27, 2)); W1 = torch.ones((6, 100)); b1 = torch.ones(100)
        W2 = torch.ones((100, 27)); b2 = torch.ones(27); parameters = [C, W1, b1, W2, b2]
        out = sum(p.nelement() for p in parameters)
    """),
    ("mlp_training_step", """
        C = torch.linspace(-1, 1, 27*2).view(27, 2); W1 = torch.linspace(-1, 1, 6*8).view(6, 8)
        W2 = torch.linspace(-1, 1, 8*27).view(8, 27); parameters = [C, W1, W2]
        for p in parameters: p.requires_grad = True
        X = torch.tensor([[0, 0, 5], [0, 5, 13]]); Y = torch.tensor([13, 13])
        loss = F.cross_entropy(torch.tanh(C[X].view(-1, 6) @ W1) @ W2, Y); loss.backward()
        out = (loss.item(), C.grad[5], W1.grad[0])
    """),
    ("mlp_update_loop", """
        W = torch.tensor([[1.0, -1.0], [0.5, 2.0]], requires_grad=True); parameters = [W]
        for p in parameters: p.grad = None
        (W ** 2).sum().backward()
        for p in parameters: p.data += -0.1 * p.grad
        out = W
    """),
    ("mlp_linspace_lrs", """
        lre = torch.linspace(-3, 0, 1000); lrs = 10**lre
        out = (lre.shape, lre[:3], lrs[0].item(), lrs[-1].item())
    """),
    ("mlp_lri_list", """
        lre = torch.linspace(-3, 0, 1000); lri = []
        for i in range(3): lri.append(lre[i])
        out = [l.item() for l in lri]
    """),
    ("mlp_randint_batch", """
        X = torch.zeros((5, 3), dtype=torch.long)
        ix = torch.randint(0, X.shape[0], (32,))
        out = (ix.shape, ix.dtype, bool((ix >= 0).all() and (ix < 5).all()), X[ix].shape)
    """),
    ("mlp_randint_generator", """
        g = torch.Generator().manual_seed(2147483647)
        ix = torch.randint(0, 10, (4, 2), generator=g)
        out = (ix.shape, ix.dtype)
    """),
    ("mlp_no_grad_block", """
        W = torch.ones(3, requires_grad=True)
        with torch.no_grad():
            y = W * 2
        out = (y.requires_grad, W.requires_grad, (W * 2).requires_grad)
    """),
    ("mlp_no_grad_decorator", """
        @torch.no_grad()
        def evaluate(x):
            return (x * 2).sum()
        out = evaluate(torch.ones(3, requires_grad=True)).requires_grad
    """),
    ("mlp_randn_generator_shape", """
        g = torch.Generator().manual_seed(2147483647)
        C = torch.randn((27, 10), generator=g); W1 = torch.randn((30, 200), generator=g)
        out = (C.shape, W1.shape, C.dtype)
    """),
    ("mlp_argmax_accuracy", """
        logits = torch.tensor([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0], [3.0, 0.0, 0.0]])
        Y = torch.tensor([1, 2, 1])
        out = (logits.argmax(1), (logits.argmax(1) == Y).float().mean().item())
    """),
    ("mlp_minibatch_index", """
        X = torch.arange(15).view(5, 3); Y = torch.arange(5) * 10; ix = torch.tensor([4, 0, 4])
        Xb, Yb = X[ix], Y[ix]
        out = (Xb, Yb)
    """),
    ("mlp_split_sizes", """
        words = ['a'] * 10; n1 = int(0.8*len(words)); n2 = int(0.9*len(words))
        X = torch.arange(10)
        out = (X[:n1], X[n1:n2], X[n2:])
    """),
    ("mlp_randperm", """
        p = torch.randperm(10)
        out = (p.shape, p.dtype, p.sort().values)
    """),
    ("mlp_emb_2d_scatter_coords", """
        C = torch.arange(27*2).float().view(27, 2)
        out = (C[:, 0].shape, C[:, 1][3].item(), C[3, 0].item())
    """),

    # ---- makemore 3: activations, gradients, BatchNorm ---------------------------------
    ("bn_mean_keepdim", """
        hpreact = torch.arange(12.).view(4, 3)**2
        out = hpreact.mean(0, keepdim=True)
    """),
    ("bn_std_keepdim", """
        hpreact = torch.arange(12.).view(4, 3)**2
        out = hpreact.std(0, keepdim=True)
    """),
    ("bn_normalize", """
        hpreact = torch.arange(12.).view(4, 3)**2
        bngain = torch.ones((1, 3)); bnbias = torch.zeros((1, 3))
        bnmeani = hpreact.mean(0, keepdim=True); bnstdi = hpreact.std(0, keepdim=True)
        out = bngain * (hpreact - bnmeani) / bnstdi + bnbias
    """),
    ("bn_running_stats", """
        hpreact = torch.arange(12.).view(4, 3)**2
        bnmean_running = torch.zeros((1, 3)); bnstd_running = torch.ones((1, 3))
        with torch.no_grad():
            bnmean_running = 0.999 * bnmean_running + 0.001 * hpreact.mean(0, keepdim=True)
            bnstd_running = 0.999 * bnstd_running + 0.001 * hpreact.std(0, keepdim=True)
        out = (bnmean_running, bnstd_running)
    """),
    ("bn_kaiming_scale", """
        n_embd = 10; block_size = 3
        W1 = torch.ones((n_embd * block_size, 200)) * (5/3)/((n_embd * block_size)**0.5)
        out = (W1[0, 0].item(), W1.dtype)
    """),
    ("bn_kaiming_randn_std", """
        g = torch.Generator().manual_seed(2147483647)
        W1 = torch.randn((30, 200), generator=g) * (5/3)/((10 * 3)**0.5)
        out = abs(W1.std().item() - (5/3)/30**0.5) < 0.02
    """),
    ("bn_tanh_saturation", """
        h = torch.tanh(torch.linspace(-3, 3, 100))
        out = ((h.abs() > 0.97).float().mean(), (h.abs() > 0.97).sum().item())
    """),
    ("bn_tanh_grad", """
        x = torch.tensor([0.0, 5.0, -5.0, 0.5], requires_grad=True)
        torch.tanh(x).sum().backward()
        out = x.grad
    """),
    ("bn_update_ratio", """
        p = torch.linspace(-1, 1, 50).requires_grad_(); (p**3).sum().backward(); lr = 0.1
        out = ((lr*p.grad).std() / p.data.std()).log10().item()
    """),
    ("bn_histc", """
        out = torch.histc(torch.tensor([1., 2, 1, 4, 2, 2, 0.5]), bins=4, min=0, max=4)
    """),
    ("bn_histogram_density", """
        hy, hx = torch.histogram(torch.tensor([1., 2, 1, 3, 2, 2]), bins=4, density=True)
        out = (hy, hx)
    """),
    ("bn_retain_grad", """
        x = torch.tensor([1.0, -2.0], requires_grad=True)
        h = x * 3; h.retain_grad(); (h**2).sum().backward()
        out = (h.grad, x.grad)
    """),
    ("bn_linear_class", """
        class Linear:
            def __init__(self, fan_in, fan_out): self.weight = torch.ones((fan_in, fan_out)) / fan_in**0.5
            def __call__(self, x): self.out = x @ self.weight; return self.out
            def parameters(self): return [self.weight]
        out = (Linear(4, 2)(torch.arange(8.).view(2, 4)), len(Linear(4, 2).parameters()))
    """),
    ("bn_batchnorm_class", """
        x = torch.arange(12.).view(4, 3)**2
        xmean = x.mean(0, keepdim=True); xvar = x.var(0, keepdim=True)
        xhat = (x - xmean) / torch.sqrt(xvar + 1e-5)
        out = xhat
    """),
    ("bn_nn_BatchNorm1d_train", """
        bn = nn.BatchNorm1d(3); x = torch.arange(12.).view(4, 3)**2
        y = bn(x)
        out = (y, bn.running_mean, bn.running_var, bn.num_batches_tracked)
    """),
    ("bn_nn_BatchNorm1d_eval", """
        bn = nn.BatchNorm1d(3); x = torch.arange(12.).view(4, 3)**2
        bn(x); bn.eval()
        out = bn(x)
    """),
    ("bn_scale_last_layer", """
        W = torch.ones((4, 2), requires_grad=True)
        with torch.no_grad():
            W *= 0.1
        out = (W, W.requires_grad, W.is_leaf)
    """),
    ("bn_std_var_relation", """
        x = torch.arange(12.).view(4, 3)**2
        out = (torch.allclose(x.std(0)**2, x.var(0)), x.var(0))
    """),
    ("bn_var_unbiased_false", """
        x = torch.arange(12.).view(4, 3)**2
        out = (x.var(0, unbiased=False), x.var(0, correction=0), x.var())
    """),
    ("bn_Linear_no_bias", """
        layer = nn.Linear(3, 4, bias=False)
        out = (layer.bias is None, len(list(layer.parameters())))
    """),
    ("bn_Embedding_weight", """
        emb = nn.Embedding(27, 10)
        out = (emb.weight.shape, emb.weight.requires_grad, emb(torch.tensor([1, 2])).shape)
    """),
    ("bn_zero_grad_none", """
        model = nn.Linear(3, 1); model(torch.ones(2, 3)).sum().backward()
        model.zero_grad()
        out = model.weight.grad is None
    """),
    ("bn_log10_item", """
        out = (torch.tensor(0.001).log10().item(), torch.tensor([1.0, 100.0]).log10())
    """),
    ("bn_percent_format", """
        t = torch.tensor([0.5, -0.99, 0.1, 0.98])
        out = 'mean %+.2f, std %.2f, saturated: %.2f%%' % (t.mean(), t.std(), (t.abs() > 0.97).float().mean()*100)
    """),
    ("bn_fstring_stats", """
        t = torch.tensor([0.5, -0.99, 0.1, 0.98])
        out = f'mean {t.mean():+.2f}, std {t.std():.2f}'
    """),
    ("bn_grad_data_ratio", """
        p = torch.tensor([[1.0, -2.0], [0.5, 4.0]], requires_grad=True); (p**2).sum().backward()
        out = (p.grad.std() / p.std()).item()
    """),
    ("bn_bias_pointless", """
        x = torch.arange(12.).view(4, 3); b1 = torch.tensor([1.0, 2.0, 3.0])
        h = x + b1
        out = torch.allclose(h - h.mean(0, keepdim=True), x - x.mean(0, keepdim=True))
    """),

    # ---- makemore 4: backprop ninja ----------------------------------------------------
    ("nj_dlogits_softmax", """
        logits = torch.tensor([[1.0, 2.0, 3.0], [1.0, -1.0, 0.0]]); Yb = torch.tensor([2, 0]); n = 2
        dlogits = F.softmax(logits, 1)
        dlogits[range(n), Yb] -= 1
        dlogits /= n
        out = dlogits
    """),
    ("nj_cmp_exact", """
        logprobs = torch.tensor([[-1.0, -2.0], [-0.5, -3.0]], requires_grad=True); Yb = torch.tensor([1, 0])
        loss = -logprobs[range(2), Yb].mean(); loss.backward()
        dlogprobs = torch.zeros_like(logprobs); dlogprobs[range(2), Yb] = -1.0/2
        out = (torch.all(dlogprobs == logprobs.grad).item(), torch.allclose(dlogprobs, logprobs.grad),
               (dlogprobs - logprobs.grad).abs().max().item())
    """),
    ("nj_cmp_dlogits", """
        logits = torch.tensor([[1.0, 2.0, 3.0], [1.0, -1.0, 0.0]], requires_grad=True); Yb = torch.tensor([2, 0])
        F.cross_entropy(logits, Yb).backward()
        dlogits = F.softmax(logits, 1).detach(); dlogits[range(2), Yb] -= 1; dlogits /= 2
        out = (torch.allclose(dlogits, logits.grad), (dlogits - logits.grad).abs().max().item() < 1e-6)
    """),
    ("nj_logit_maxes", """
        logits = torch.tensor([[1.0, 2.0, 3.0], [1.0, -1.0, 0.0]])
        logit_maxes = logits.max(1, keepdim=True).values
        out = (logit_maxes, logits - logit_maxes)
    """),
    ("nj_counts_chain", """
        norm_logits = torch.tensor([[-2.0, -1.0, 0.0], [0.0, -2.0, -1.0]])
        counts = norm_logits.exp(); counts_sum = counts.sum(1, keepdims=True)
        counts_sum_inv = counts_sum**-1; probs = counts * counts_sum_inv
        out = (counts_sum, counts_sum_inv, probs)
    """),
    ("nj_retain_chain_grads", """
        logits = torch.tensor([[1.0, 2.0, 3.0], [1.0, -1.0, 0.0]], requires_grad=True); Yb = torch.tensor([2, 0])
        counts = logits.exp(); counts_sum = counts.sum(1, keepdim=True); probs = counts * counts_sum**-1
        for t in [counts, counts_sum, probs]: t.retain_grad()
        (-probs[range(2), Yb].log().mean()).backward()
        out = (probs.grad, counts_sum.grad, counts.grad)
    """),
    ("nj_max_values_indices", """
        logits = torch.tensor([[1.0, 5.0, 3.0], [4.0, -1.0, 0.0]])
        v, i = logits.max(1)
        out = (v, i, logits.max(1).indices, logits.max())
    """),
    ("nj_one_hot_max_indices", """
        logits = torch.tensor([[1.0, 5.0, 3.0], [4.0, -1.0, 0.0]]); dlogit_maxes = torch.tensor([[2.0], [3.0]])
        out = F.one_hot(logits.max(1).indices, num_classes=logits.shape[1]) * dlogit_maxes
    """),
    ("nj_bnvar_bessel", """
        hprebn = torch.arange(12.).view(4, 3)**2; n = hprebn.shape[0]
        bndiff = hprebn - 1/n*hprebn.sum(0, keepdim=True); bndiff2 = bndiff**2
        bnvar = 1/(n-1)*(bndiff2).sum(0, keepdim=True)
        out = (bnvar, torch.allclose(bnvar, hprebn.var(0, keepdim=True)))
    """),
    ("nj_bnvar_inv", """
        bnvar = torch.tensor([[4.0, 0.25, 1.0]])
        out = (bnvar + 1e-5)**-0.5
    """),
    ("nj_dC_accumulate", """
        C = torch.zeros((5, 2)); Xb = torch.tensor([[1, 1], [4, 0]])
        demb = torch.arange(8.).view(2, 2, 2); dC = torch.zeros_like(C)
        for k in range(Xb.shape[0]):
            for j in range(Xb.shape[1]):
                ix = Xb[k, j]; dC[ix] += demb[k, j]
        out = dC
    """),
    ("nj_linear_backward_T", """
        h = torch.linspace(-1, 1, 6).view(2, 3).requires_grad_(); W2 = torch.linspace(0, 1, 12).view(3, 4).requires_grad_()
        b2 = torch.zeros(4, requires_grad=True); logits = h @ W2 + b2; dlogits = torch.linspace(-1, 1, 8).view(2, 4)
        logits.backward(dlogits)
        dh = dlogits @ W2.T; dW2 = h.T @ dlogits; db2 = dlogits.sum(0)
        out = (torch.allclose(dh, h.grad), torch.allclose(dW2, W2.grad), torch.allclose(db2, b2.grad), dW2)
    """),
    ("nj_tanh_backward", """
        hpreact = torch.tensor([[0.5, -1.0], [2.0, 0.0]], requires_grad=True); h = torch.tanh(hpreact)
        dh = torch.tensor([[1.0, 2.0], [3.0, 4.0]]); h.backward(dh)
        dhpreact = (1.0 - h**2) * dh
        out = (torch.allclose(dhpreact, hpreact.grad), dhpreact)
    """),
    ("nj_shapes", """
        logits = torch.zeros(32, 27); h = torch.zeros(32, 64); W2 = torch.zeros(64, 27); b2 = torch.zeros(27)
        out = (logits.shape, h.shape, W2.shape, b2.shape, (h @ W2 + b2).shape)
    """),
    ("nj_demb_view", """
        emb = torch.zeros(4, 3, 2); dembcat = torch.arange(24.).view(4, 6)
        demb = dembcat.view(emb.shape)
        out = demb[1]
    """),
    ("nj_loss_fast_vs_slow", """
        logits = torch.tensor([[1.0, 2.0, 3.0], [1.0, -1.0, 0.0]]); Yb = torch.tensor([2, 0])
        logprobs = (logits - logits.max(1, keepdim=True).values).exp()
        logprobs = (logprobs / logprobs.sum(1, keepdim=True)).log(); loss = -logprobs[range(2), Yb].mean()
        loss_fast = F.cross_entropy(logits, Yb)
        out = (loss_fast.item(), abs((loss_fast - loss).item()) < 1e-6)
    """),
    ("nj_bn_backward_formula", """
        x = torch.linspace(-1, 2, 12).view(4, 3).requires_grad_(); n = 4; bngain = torch.tensor([[1.0, 2.0, 0.5]])
        bnvar_inv = (x.var(0, keepdim=True) + 1e-5)**-0.5; bnraw = (x - x.mean(0, keepdim=True)) * bnvar_inv
        dhpreact = torch.linspace(1, -1, 12).view(4, 3); (bngain * bnraw).backward(dhpreact)
        dx = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0) - n/(n-1)*bnraw*(dhpreact*bnraw).sum(0))
        out = (torch.allclose(dx, x.grad, atol=1e-6), dx)
    """),
    ("nj_range_index_assign", """
        x = torch.zeros(3, 3)
        x[range(3), [0, 2, 1]] = 1.0
        out = x
    """),
    ("nj_grad_clone", """
        x = torch.tensor([1.0, 2.0], requires_grad=True); (x**2).sum().backward()
        g = x.grad.clone(); x.grad.zero_()
        out = (g, x.grad)
    """),
    ("nj_item_of_index", """
        Yb = torch.tensor([3, 7, 1])
        out = (Yb[0].item(), type(Yb[0].item()).__name__, int(Yb[1]))
    """),
    ("nj_dprobs_sum", """
        counts = torch.tensor([[1.0, 2.0], [3.0, 1.0]]); dprobs = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
        counts_sum_inv = counts.sum(1, keepdim=True)**-1
        out = (counts * dprobs).sum(1, keepdim=True) * -counts_sum_inv**2
    """),
    ("nj_dlogits_row_sums", """
        logits = torch.tensor([[1.0, 2.0, 3.0], [1.0, -1.0, 0.0]]); Yb = torch.tensor([2, 0])
        dlogits = F.softmax(logits, 1); dlogits[range(2), Yb] -= 1
        out = dlogits.sum(1).abs().max().item() < 1e-6
    """),

    # ---- makemore 5: WaveNet -----------------------------------------------------------
    ("wn_view_consecutive", """
        x = torch.arange(2*8*3).float().view(2, 8, 3); B, T, C = x.shape; n = 2
        out = x.view(B, T//n, C*n)
    """),
    ("wn_squeeze_dim1", """
        x = torch.arange(6.).view(2, 1, 3)
        out = (torch.squeeze(x, dim=1), x.squeeze(1).shape, torch.zeros(2, 1, 3, 1).squeeze().shape)
    """),
    ("wn_flatten_consecutive", """
        class FlattenConsecutive:
            def __init__(self, n): self.n = n
            def __call__(self, x):
                B, T, C = x.shape; x = x.view(B, T//self.n, C*self.n)
                return x.squeeze(1) if x.shape[1] == 1 else x
        out = FlattenConsecutive(2)(FlattenConsecutive(2)(torch.arange(24.).view(2, 4, 3)))
    """),
    ("wn_mean_two_dims", """
        x = torch.arange(24.).view(2, 4, 3)
        out = (x.mean((0, 1), keepdim=True), x.mean((0, 1), keepdim=True).shape)
    """),
    ("wn_var_two_dims", """
        x = torch.arange(24.).view(2, 4, 3)**2
        out = x.var((0, 1), keepdim=True)
    """),
    ("wn_batchnorm_3d", """
        x = torch.arange(24.).view(2, 4, 3)**2
        dim = 0 if x.ndim == 2 else (0, 1)
        xmean = x.mean(dim, keepdim=True); xvar = x.var(dim, keepdim=True)
        out = (x - xmean) / torch.sqrt(xvar + 1e-5)
    """),
    ("wn_matmul_3d", """
        out = (torch.ones(4, 5, 80) @ torch.ones(80, 200)).shape
    """),
    ("wn_cat_even_odd", """
        e = torch.arange(4*8*10.).view(4, 8, 10)
        explicit = torch.cat([e[:, ::2, :], e[:, 1::2, :]], dim=2)
        out = (explicit.shape, (explicit == e.view(4, 4, 20)).all())
    """),
    ("wn_embedding_3d", """
        emb = nn.Embedding(27, 10)
        out = emb(torch.tensor([[1, 2, 3], [0, 0, 1]])).shape
    """),
    ("wn_sequential_forward", """
        model = nn.Sequential(nn.Embedding(27, 4), nn.Flatten(), nn.Linear(12, 5))
        out = model(torch.zeros((2, 3), dtype=torch.long)).shape
    """),
    ("wn_eval_modules", """
        model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh())
        model.eval()
        out = [m.training for m in model.modules()]
    """),
    ("wn_layers_index", """
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        out = (len(model), type(model[1]).__name__, model[-1].weight.shape)
    """),
    ("wn_view_tuple_arg", """
        x = torch.arange(12)
        out = (x.view((2, -1)), x.reshape(3, -1).shape)
    """),
    ("wn_flatten_start_dim", """
        x = torch.arange(24).view(2, 3, 4)
        out = (x.flatten(1).shape, x.flatten().shape, torch.flatten(x, 1).shape)
    """),
    ("wn_ndim", """
        x = torch.zeros(2, 4, 3)
        out = (x.ndim, x.dim(), x.shape[-1])
    """),
    ("wn_step_slices", """
        x = torch.arange(10)
        out = (x[::2], x[1::2], x[7:15], x[-3:])
    """),
    ("wn_running_mean_update", """
        running_mean = torch.zeros(1, 1, 3); x = torch.arange(24.).view(2, 4, 3)
        with torch.no_grad():
            running_mean = 0.9 * running_mean + 0.1 * x.mean((0, 1), keepdim=True)
        out = running_mean
    """),

    # ---- lecture 7: GPT from scratch (and nanoGPT) -------------------------------------
    ("gpt_encode", """
        text = "hello world"; chars = sorted(list(set(text))); stoi = {ch: i for i, ch in enumerate(chars)}
        data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
        out = (data, data.dtype, data.shape, len(chars))
    """),
    ("gpt_train_val_split", """
        data = torch.arange(20); n = int(0.9*len(data))
        train_data = data[:n]; val_data = data[n:]
        out = (train_data.shape, val_data)
    """),
    ("gpt_get_batch", """
        data = torch.arange(20) * 3; block_size = 4; ix = torch.tensor([0, 7, 15])
        x = torch.stack([data[i:i+block_size] for i in ix])
        y = torch.stack([data[i+1:i+block_size+1] for i in ix])
        out = (x, y)
    """),
    ("gpt_randint_high_only", """
        data = torch.arange(100); block_size = 8; batch_size = 4
        ix = torch.randint(len(data) - block_size, (batch_size,))
        out = (ix.shape, ix.dtype, bool((ix < 92).all()))
    """),
    ("gpt_context_target", """
        xb = torch.tensor([[5, 6, 7]]); yb = torch.tensor([[6, 7, 8]]); out = []
        for t in range(3):
            context = xb[0, :t+1]; target = yb[0, t]
            out.append((context.tolist(), target.item()))
    """),
    ("gpt_tril_ones", """
        out = torch.tril(torch.ones(3, 3))
    """),
    ("gpt_tril_average", """
        a = torch.tril(torch.ones(3, 3)); a = a / torch.sum(a, 1, keepdim=True)
        b = torch.arange(6.).view(3, 2)
        out = a @ b
    """),
    ("gpt_xbow_loop", """
        x = torch.arange(2*4*2.).view(2, 4, 2); B, T, C = x.shape; xbow = torch.zeros((B, T, C))
        for b in range(B):
            for t in range(T):
                xbow[b, t] = torch.mean(x[b, :t+1], 0)
        out = xbow
    """),
    ("gpt_masked_fill_softmax", """
        T = 4; tril = torch.tril(torch.ones(T, T)); wei = torch.zeros((T, T))
        wei = wei.masked_fill(tril == 0, float('-inf'))
        out = (wei, F.softmax(wei, dim=-1))
    """),
    ("gpt_masked_fill_crop", """
        tril = torch.tril(torch.ones(8, 8)); T = 3; wei = torch.arange(9.).view(1, 3, 3)
        wei = wei.masked_fill(tril[:T, :T] == 0, float('-inf'))
        out = F.softmax(wei, dim=-1)
    """),
    ("gpt_register_buffer", """
        class Head(nn.Module):
            def __init__(self):
                super().__init__(); self.register_buffer('tril', torch.tril(torch.ones(4, 4)))
        out = (Head().tril, [name for name, _ in Head().named_buffers()], len(list(Head().parameters())))
    """),
    ("gpt_attention_head", """
        x = torch.linspace(-1, 1, 12).view(1, 3, 4); B, T, C = x.shape
        q = x * 2; k = x.tanh() - 0.3; v = x + 1; tril = torch.tril(torch.ones(T, T))
        wei = q @ k.transpose(-2, -1) * C**-0.5; wei = wei.masked_fill(tril[:T, :T] == 0, float('-inf'))
        out = F.softmax(wei, dim=-1) @ v
    """),
    ("gpt_transpose_last_two", """
        k = torch.arange(24).view(2, 3, 4)
        out = (k.transpose(-2, -1).shape, k.transpose(-2, -1)[1])
    """),
    ("gpt_transpose_0_1", """
        x = torch.arange(24).view(2, 3, 4)
        out = (x.transpose(0, 1).shape, x.transpose(0, 1)[2])
    """),
    ("gpt_transpose_contiguous_view", """
        y = torch.arange(24.).view(1, 2, 3, 4); B, nh, T, hs = y.shape
        out = y.transpose(1, 2).contiguous().view(B, T, nh*hs)
    """),
    ("gpt_sdpa_causal", """
        q = torch.linspace(-1, 1, 24).view(1, 2, 3, 4); k = 1 - q**2; v = q * 2
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    """),
    ("gpt_sdpa_vs_manual", """
        q = torch.linspace(-1, 1, 24).view(1, 2, 3, 4); k = 1 - q**2; v = q * 2; T = 3
        att = (q @ k.transpose(-2, -1)) * (1.0 / k.size(-1)**0.5)
        att = F.softmax(att.masked_fill(torch.tril(torch.ones(T, T)) == 0, float('-inf')), dim=-1)
        out = torch.allclose(att @ v, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-6)
    """),
    ("gpt_stack", """
        out = (torch.stack([torch.arange(3), torch.arange(3) * 2]), torch.stack([torch.zeros(2), torch.ones(2)], dim=1))
    """),
    ("gpt_multinomial_2d", """
        probs = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        idx_next = torch.multinomial(probs, num_samples=1)
        out = (idx_next, idx_next.shape, idx_next.dtype)
    """),
    ("gpt_cat_idx_next", """
        idx = torch.zeros((1, 1), dtype=torch.long); idx_next = torch.tensor([[7]])
        idx = torch.cat((idx, idx_next), dim=1)
        out = (idx, idx.dtype)
    """),
    ("gpt_crop_context", """
        idx = torch.arange(10).view(1, 10); block_size = 8
        out = (idx[:, -block_size:], idx[:, -block_size:].shape)
    """),
    ("gpt_last_time_step", """
        logits = torch.arange(24.).view(2, 3, 4)
        out = (logits[:, -1, :], logits[:, -1, :].shape)
    """),
    ("gpt_generate_loop", """
        P = torch.eye(4)[[1, 2, 3, 0]]; idx = torch.zeros((1, 1), dtype=torch.long)
        for _ in range(4):
            probs = P[idx[:, -1]]; idx_next = torch.multinomial(probs, num_samples=1)
            idx = torch.cat((idx, idx_next), dim=1)
        out = idx
    """),
    ("gpt_logits_view_BT", """
        logits = torch.linspace(-1, 1, 2*3*4).view(2, 3, 4); targets = torch.tensor([[0, 1, 2], [3, 0, 1]])
        B, T, C = logits.shape
        out = F.cross_entropy(logits.view(B*T, C), targets.view(B*T))
    """),
    ("gpt_view_minus_one_size", """
        logits = torch.linspace(-1, 1, 2*3*4).view(2, 3, 4); targets = torch.tensor([[0, 1, 2], [3, 0, 1]])
        out = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
    """),
    ("gpt_pos_emb_broadcast", """
        T = 3; tok_emb = torch.zeros(2, T, 4); pos = torch.arange(T)
        pos_emb = nn.Embedding(8, 4)(pos)
        out = (pos.dtype, pos_emb.shape, (tok_emb + pos_emb).shape)
    """),
    ("gpt_topk_filter", """
        logits = torch.tensor([[1.0, 5.0, 3.0, 4.0], [2.0, 0.0, 1.0, 3.0]])
        v, _ = torch.topk(logits, 2)
        logits[logits < v[:, [-1]]] = -float('Inf')
        out = (v, F.softmax(logits, dim=-1))
    """),
    ("gpt_topk_fields", """
        r = torch.topk(torch.tensor([1.0, 5.0, 3.0, 4.0]), 2)
        out = (r.values, r.indices, torch.tensor([1.0, 5.0, 3.0]).topk(1, largest=False).indices)
    """),
    ("gpt_split_qkv", """
        n_embd = 4; x = torch.arange(1*2*12.).view(1, 2, 12)
        q, k, v = x.split(n_embd, dim=2)
        out = (q, k.shape, v[0, 1])
    """),
    ("gpt_size", """
        x = torch.zeros(2, 3, 4); B, T, C = x.size()
        out = (B, T, C, x.size(), x.size(-1), x.size(1))
    """),
    ("gpt_heads_view", """
        B, T, C, n_head = 1, 2, 8, 2; k = torch.arange(B*T*C).float().view(B, T, C)
        k = k.view(B, T, n_head, C // n_head).transpose(1, 2)
        out = (k.shape, k[0, 1])
    """),
    ("gpt_sort_desc", """
        r = torch.sort(torch.tensor([3.0, 1.0, 2.0]), descending=True)
        out = (r.values, r.indices, torch.tensor([3, 1, 2]).sort()[0])
    """),
    ("gpt_argsort", """
        out = (torch.argsort(torch.tensor([3.0, 1.0, 2.0])), torch.argsort(torch.tensor([3.0, 1.0, 2.0]), descending=True))
    """),
    ("gpt_loss_fstring", """
        losses = {'train': torch.tensor(2.34567), 'val': torch.tensor(2.5)}
        out = f"step 0: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}"
    """),
    ("gpt_item_fstring", """
        loss = torch.tensor(4.18765)
        out = f"{loss.item():.4f}"
    """),
    ("gpt_dim_numel", """
        x = torch.zeros(2, 3, 4)
        out = (x.dim(), x.numel(), x.nelement())
    """),
    ("gpt_dtype_aliases", """
        out = (torch.float == torch.float32, torch.long == torch.int64, torch.double == torch.float64,
               torch.int == torch.int32, torch.zeros(2).dtype == torch.float32)
    """),
    ("gpt_dtype_value", """
        out = (torch.zeros(2, dtype=torch.long).dtype, torch.arange(3).dtype, torch.arange(3.).dtype,
               torch.tensor(True).dtype, torch.tensor(5).dtype)
    """),
    ("gpt_manual_seed_shapes", """
        torch.manual_seed(1337)
        x = torch.randn(4, 8, 2)
        out = (x.shape, x.dtype)
    """),
    ("gpt_manual_seed_repeat", """
        torch.manual_seed(1337); a = torch.randn(3)
        torch.manual_seed(1337); b = torch.randn(3)
        out = torch.equal(a, b)
    """),
    ("gpt_zeros_BT_long", """
        B, T = 2, 3
        out = torch.zeros((B, T), dtype=torch.long)
    """),
    ("gpt_layernorm_manual", """
        x = torch.arange(12.).view(3, 4)**2
        xmean = x.mean(1, keepdim=True); xvar = x.var(1, keepdim=True)
        out = (x - xmean) / torch.sqrt(xvar + 1e-5)
    """),
    ("gpt_nn_LayerNorm", """
        x = torch.arange(12.).view(3, 4)**2
        ln = nn.LayerNorm(4)
        out = (ln(x), ln.weight.shape, ln.bias.shape)
    """),
    ("gpt_init_zeros_ones", """
        lin = nn.Linear(4, 2)
        torch.nn.init.zeros_(lin.bias); torch.nn.init.ones_(lin.weight)
        out = lin(torch.arange(8.).view(2, 4))
    """),
    ("gpt_init_normal_std", """
        w = torch.empty(200, 300)
        torch.nn.init.normal_(w, mean=0.0, std=0.02)
        out = (abs(w.std().item() - 0.02) < 0.001, abs(w.mean().item()) < 0.001)
    """),
    ("gpt_dropout_eval", """
        d = nn.Dropout(0.2); d.eval(); x = torch.arange(6.)
        out = (d(x), d.training)
    """),
    ("gpt_dropout_train_scale", """
        x = torch.ones(10000); y = nn.Dropout(0.2)(x)
        out = (sorted(set(y.tolist())), abs((y == 0).float().mean().item() - 0.2) < 0.03)
    """),
    ("gpt_ffwd_shape", """
        ffwd = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 4), nn.Dropout(0.0))
        out = ffwd(torch.zeros(2, 3, 4)).shape
    """),
    ("gpt_adamw_step", """
        p = nn.Parameter(torch.tensor([1.0, -2.0]))
        opt = torch.optim.AdamW([p], lr=1e-3); (p**2).sum().backward(); opt.step()
        out = p
    """),
    ("gpt_zero_grad_set_to_none", """
        p = nn.Parameter(torch.tensor([1.0, -2.0])); opt = torch.optim.AdamW([p], lr=1e-3)
        (p**2).sum().backward(); opt.zero_grad(set_to_none=True)
        out = p.grad is None
    """),
    ("gpt_estimate_loss", """
        @torch.no_grad()
        def estimate_loss():
            losses = torch.zeros(3)
            for k in range(3): losses[k] = torch.tensor(float(k) + 0.5).item()
            return losses.mean()
        out = estimate_loss()
    """),
    ("gpt_train_eval_flags", """
        m = nn.Linear(2, 2); m.eval(); flags = [m.training]; m.train()
        out = flags + [m.training]
    """),
    ("gpt_decode", """
        itos = {i: ch for i, ch in enumerate('abc')}; decode = lambda l: ''.join([itos[i] for i in l])
        out = decode(torch.tensor([[0, 2, 1, 1]])[0].tolist())
    """),
    ("gpt_softmax_masked_row", """
        out = F.softmax(torch.tensor([0.0, float('-inf'), float('-inf')]), dim=-1)
    """),
    ("gpt_scaled_attention_var", """
        torch.manual_seed(1337); head_size = 16
        k = torch.randn(64, 32, head_size); q = torch.randn(64, 32, head_size)
        wei = q @ k.transpose(-2, -1) * head_size**-0.5
        out = (wei.shape, abs(wei.var().item() - 1) < 0.1)
    """),
    ("gpt_softmax_sharpen", """
        x = torch.tensor([0.1, -0.2, 0.3, -0.2, 0.5])
        out = (torch.softmax(x, dim=-1), torch.softmax(x*8, dim=-1))
    """),
    ("gpt_device_cpu", """
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
        x = torch.zeros(2, device='cpu').to('cpu')
        out = (isinstance(torch.cuda.is_available(), bool), str(x.device), x.to(device).shape)
    """),
    ("gpt_params_millions", """
        m = nn.Sequential(nn.Embedding(65, 32), nn.Linear(32, 65))
        out = sum(p.numel() for p in m.parameters())/1e6
    """),
    ("gpt_full_inf", """
        out = (torch.full((2, 2), float('-inf')), torch.ones_like(torch.zeros(2, 3, dtype=torch.long)))
    """),
    ("gpt_bool_mask", """
        mask = torch.tril(torch.ones(3, 3, dtype=torch.bool))
        out = (mask, ~mask, mask.dtype)
    """),
    ("gpt_triu", """
        out = torch.triu(torch.ones(3, 3), diagonal=1)
    """),
    ("gpt_where", """
        x = torch.tensor([-1.0, 2.0, -3.0])
        out = torch.where(x > 0, x, torch.zeros_like(x))
    """),
    ("gpt_gelu", """
        x = torch.tensor([-1.0, 0.0, 1.0, 2.0])
        out = (F.gelu(x), nn.GELU(approximate='tanh')(x))
    """),
    ("gpt_clip_grad_norm", """
        p = nn.Parameter(torch.tensor([3.0, 4.0])); (p * p).sum().backward()
        norm = torch.nn.utils.clip_grad_norm_([p], 1.0)
        out = (norm, p.grad)
    """),
    ("gpt_weight_tying", """
        tok_emb = nn.Embedding(10, 4); lm_head = nn.Linear(4, 10, bias=False)
        lm_head.weight = tok_emb.weight
        out = (lm_head.weight is tok_emb.weight, lm_head.weight.shape)
    """),
    ("gpt_long_conversion", """
        out = (torch.tensor([1.7, -2.2]).long(), torch.tensor([1, 2]).float().dtype)
    """),
    ("gpt_state_dict_keys", """
        m = nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3))
        out = list(m.state_dict().keys())
    """),
    ("gpt_module_list", """
        blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
        out = (len(blocks), sum(p.numel() for p in blocks.parameters()))
    """),
    ("gpt_nn_functional_via_torch", """
        x = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
        out = (torch.nn.functional.softmax(x, dim=-1), torch.nn.functional.relu(x - 2))
    """),

    # ---- everyday tensor basics used all through the lectures ---------------------------
    ("misc_int_arith", """
        out = (torch.arange(5) * 2 + 1, torch.arange(10) // 3, torch.arange(7) % 3)
    """),
    ("misc_int_sum_item", """
        s = torch.tensor([1, 2, 3]).sum()
        out = (s.item(), type(s.item()).__name__, s.dtype)
    """),
    ("misc_tolist", """
        out = (torch.tensor([[1, 2], [3, 4]]).tolist(), torch.tensor([0.5, 1.5]).tolist())
    """),
    ("misc_function_forms", """
        x = torch.tensor([1.0, 2.0, 4.0])
        out = (torch.exp(x), torch.log(x), torch.sqrt(x), torch.sum(x), torch.mean(x))
    """),
    ("misc_max_min", """
        x = torch.tensor([[1.0, 5.0], [7.0, -2.0]])
        out = (torch.max(x), x.min(), x.max().item(), torch.max(x, 1).values, x.argmax(dim=1))
    """),
    ("misc_dim_kwargs", """
        x = torch.arange(6.).view(2, 3)
        out = (x.sum(dim=1), x.mean(dim=-1), x.sum(dim=0, keepdim=True))
    """),
    ("misc_arange_forms", """
        out = (torch.arange(0, 10, 2), torch.arange(5.), torch.arange(1, 4), torch.arange(0, 1, 0.25))
    """),
    ("misc_bool_mask_select", """
        x = torch.arange(6)
        out = (x[x > 2], (x > 2).sum().item(), (x > 2).dtype)
    """),
    ("misc_clamp", """
        x = torch.tensor([-2.0, 0.5, 3.0])
        out = (torch.clamp(x, min=0), x.clamp(-1, 1), x.clamp(max=1.0))
    """),
    ("misc_unsqueeze_none", """
        x = torch.arange(3)
        out = (x.unsqueeze(0).shape, x[None, :].shape, x[:, None].shape, x.unsqueeze(-1).shape)
    """),
    ("misc_detach_requires_grad", """
        x = torch.ones(2, requires_grad=True); y = x * 2
        out = (y.detach().requires_grad, y.requires_grad, y.is_leaf, y.grad_fn is not None)
    """),
    ("misc_int_float_builtins", """
        x = torch.tensor(2.75)
        out = (float(x), int(x), round(x.item(), 1), bool(torch.tensor(1)))
    """),
    ("misc_tensor_of_bool_float", """
        out = ((torch.tensor([1.0, 2.0]) > 1.5).float(), torch.tensor([True, False]).long())
    """),
    ("misc_equal", """
        out = (torch.equal(torch.arange(3), torch.tensor([0, 1, 2])), torch.equal(torch.zeros(2), torch.ones(2)))
    """),
    ("misc_any_all", """
        x = torch.tensor([0.0, 1.0, float('nan')])
        out = (torch.isnan(x).any().item(), torch.isfinite(x).all().item(), (x >= 0).any().item())
    """),
    ("misc_permute", """
        x = torch.arange(24).view(2, 3, 4)
        out = (x.permute(2, 0, 1).shape, x.permute(2, 0, 1)[1])
    """),
    ("misc_expand_repeat", """
        x = torch.tensor([[1], [2]])
        out = (x.expand(2, 3), x.repeat(1, 3), x.expand(-1, 2).shape)
    """),
    ("misc_chunk", """
        x = torch.arange(6)
        out = (x.chunk(3), x.split(2), x.split([1, 5]))
    """),
    ("misc_gather", """
        x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
        out = torch.gather(x, 1, torch.tensor([[0], [1]]))
    """),
    ("misc_eye_float", """
        out = (torch.eye(3), torch.eye(2, 3).shape)
    """),
    ("misc_mixed_promotion", """
        out = ((torch.arange(3) + 0.5).dtype, (torch.arange(3) / 2).dtype, (torch.arange(3) * 2).dtype,
               (torch.ones(2, dtype=torch.float64) + torch.ones(2)).dtype)
    """),
    ("misc_matmul_vec", """
        A = torch.arange(6.).view(2, 3); v = torch.tensor([1.0, 0.0, -1.0])
        out = (A @ v, v @ v, A @ A.T, torch.matmul(A, v))
    """),
    ("misc_inplace_ops", """
        x = torch.ones(3); x += 1; x *= 3; x -= torch.tensor([1.0, 2.0, 3.0]); x /= 2
        out = x
    """),
    ("misc_softmax_log_softmax", """
        x = torch.tensor([[1.0, 2.0, 3.0]])
        out = (F.log_softmax(x, dim=1), F.softmax(x, dim=1).log(), x.softmax(-1))
    """),
    ("misc_sigmoid_tanh_methods", """
        x = torch.tensor([-1.0, 0.0, 1.0])
        out = (x.sigmoid(), torch.sigmoid(x), x.tanh(), F.tanh(x))
    """),
]


def _build(raw) -> list[tuple[str, str]]:
    lines, seen = [], set()
    for line_id, code in raw:
        if line_id in seen:
            raise ValueError(f"duplicate lecture line id {line_id!r}")
        seen.add(line_id)
        lines.append((line_id, textwrap.dedent(code).strip() + "\n"))
    return lines


LINES: list[tuple[str, str]] = _build(_RAW)
CODE: dict[str, str] = dict(LINES)


def lecture_of(line_id: str) -> str:
    return line_id.split("_", 1)[0]


def namespace(torch_module) -> dict:
    """What a lecture line sees: `torch`, `F` and `nn` of the given library."""
    return {"torch": torch_module, "F": torch_module.nn.functional, "nn": torch_module.nn}


def run(line_id: str, torch_module):
    """Run one line against `torch_module` (torch or gradkit); its `out`."""
    ns = namespace(torch_module)
    exec(compile(CODE[line_id], f"<lecture line {line_id}>", "exec"), ns)  # noqa: S102
    return ns["out"]


# ---- results as plain JSON data ---------------------------------------------------------


def _dtype_name(dtype) -> str:
    name = str(dtype)
    for prefix in ("torch.", "gradkit."):
        name = name.removeprefix(prefix)
    return {"bool_": "bool"}.get(name, name)


def _is_tensor(obj) -> bool:
    return all(hasattr(obj, a) for a in ("shape", "dtype", "detach")) and not isinstance(
        obj, np.ndarray)


def _host(tensor) -> np.ndarray:
    t = tensor.detach()
    if hasattr(t, "cpu"):
        t = t.cpu()
    return np.asarray(t.numpy())


def _number(v):
    """A JSON-able number; NaN and infinities as strings (strict JSON has none)."""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def encode(obj):
    """A result as plain JSON data: {"t": kind, ...}."""
    if obj is None:
        return {"t": "none"}
    if isinstance(obj, (bool, np.bool_)):
        return {"t": "bool", "v": bool(obj)}
    if isinstance(obj, (int, np.integer)):
        return {"t": "int", "v": int(obj)}
    if isinstance(obj, (float, np.floating)):
        return {"t": "float", "v": _number(float(obj))}
    if isinstance(obj, str):
        return {"t": "str", "v": obj}
    if type(obj).__name__ in ("dtype", "DType") and not _is_tensor(obj):
        return {"t": "dtype", "v": _dtype_name(obj)}
    if _is_tensor(obj):
        array = _host(obj)
        data = array.reshape(-1).tolist()
        return {"t": "tensor", "dtype": _dtype_name(obj.dtype), "shape": list(array.shape),
                "data": [_number(v) for v in data]}
    if isinstance(obj, np.ndarray):
        return {"t": "ndarray", "dtype": str(obj.dtype), "shape": list(obj.shape)}
    if isinstance(obj, (tuple, list)):  # torch.Size, torch.return_types.* are tuples
        return {"t": "seq", "items": [encode(item) for item in obj]}
    if isinstance(obj, dict):
        return {"t": "dict", "items": {str(k): encode(v) for k, v in obj.items()}}
    return {"t": "other", "v": f"{type(obj).__module__}.{type(obj).__qualname__}"}


def _floats(data) -> np.ndarray:
    return np.array([float(v) for v in data], dtype=np.float64)


def compare(got, want, where: str = "out") -> str | None:
    """None when `got` is `want` (both encoded); else what differs.

    Floats: allclose (rtol 1e-5, atol 1e-6; NaN equals NaN); everything else exact.
    Tensors compare dtype, shape and values.
    """
    if got["t"] != want["t"]:
        return f"{where}: a {got['t']} where torch gives a {want['t']}"
    kind = want["t"]
    if kind == "seq":
        if len(got["items"]) != len(want["items"]):
            return f"{where}: {len(got['items'])} items, torch {len(want['items'])}"
        for i, (g, w) in enumerate(zip(got["items"], want["items"])):
            diff = compare(g, w, f"{where}[{i}]")
            if diff:
                return diff
        return None
    if kind == "dict":
        if list(got["items"]) != list(want["items"]):
            return f"{where}: keys {list(got['items'])}, torch {list(want['items'])}"
        for key in want["items"]:
            diff = compare(got["items"][key], want["items"][key], f"{where}[{key!r}]")
            if diff:
                return diff
        return None
    if kind == "tensor":
        if got["dtype"] != want["dtype"]:
            return f"{where}: dtype {got['dtype']}, torch {want['dtype']}"
        if got["shape"] != want["shape"]:
            return f"{where}: shape {tuple(got['shape'])}, torch {tuple(want['shape'])}"
        if want["dtype"].startswith(("float", "complex")):
            g, w = _floats(got["data"]), _floats(want["data"])
            if not np.allclose(g, w, rtol=1e-5, atol=1e-6, equal_nan=True):
                worst = int(np.nanargmax(np.abs(g - w))) if g.size else 0
                return (f"{where}: values differ (flat index {worst}: {g[worst]!r}, "
                        f"torch {w[worst]!r})")
            return None
        if got["data"] != want["data"]:
            return f"{where}: values {got['data'][:8]}..., torch {want['data'][:8]}..."
        return None
    if kind == "float":
        g, w = _floats([got["v"]]), _floats([want["v"]])
        if not np.allclose(g, w, rtol=1e-5, atol=1e-6, equal_nan=True):
            return f"{where}: {got['v']!r}, torch {want['v']!r}"
        return None
    if got != want:
        return f"{where}: {got.get('v')!r}, torch {want.get('v')!r}"
    return None


# ---- the expected values ---------------------------------------------------------------


def load_expected() -> dict:
    return json.loads(EXPECTED_PATH.read_text())


def regenerate() -> dict:
    """Run every line with real PyTorch and write lecture_expected.json."""
    import torch

    expected = {}
    for line_id, _ in LINES:
        torch.manual_seed(0)
        expected[line_id] = encode(run(line_id, torch))
    payload = {"torch": torch.__version__.split("+")[0], "lines": expected}
    rows = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in expected.items())
    head = f'{{"torch": {json.dumps(payload["torch"])},\n "lines": {{\n'
    EXPECTED_PATH.write_text(head + rows + "\n}}\n")
    return payload


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit("usage: python tests/lecture_lines.py --regenerate   (needs torch installed)")
    written = regenerate()
    print(f"wrote {len(written['lines'])} expected values from torch {written['torch']} "
          f"to {EXPECTED_PATH}")
