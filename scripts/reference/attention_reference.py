"""Attention from the formulas alone, in numpy float64: the outside reference the fixture scripts
(biases.py, score_cap.py) write their expected outputs with.

y = W x + b with W row-major (torch.nn.Linear), query head h reads kv head h // (H / G), scores
q.k / sqrt(head_dim) over keys j <= i (and i - window < j with a window), rotate-half RoPE by
stream index (base 10000, or given speeds, and cos and sin times an attention factor as Hugging
Face applies YaRN's and LongRoPE's) after the biases, an optional soft cap cap * tanh(s / cap), a
max-subtracted softmax (with learned sink logits, one per head, as gpt-oss's: concatenated to the
scores as a last column, dropped after the softmax), output = W_o concat(heads) + b_o (the
concatenation without W_o).
"""
import numpy as np

def rope(u, p, base=10000.0, speeds=None, factor=1.0):
    half = u.shape[0] // 2
    inv = base ** (-np.arange(half) * 2.0 / u.shape[0]) if speeds is None else speeds
    c, s = np.cos(p * inv) * factor, np.sin(p * inv) * factor
    return np.concatenate([u[:half] * c - u[half:] * s, u[half:] * c + u[:half] * s])

def random_weights(rng, d, H, G, hd, output=True):
    """A layer's projections drawn from rng, scaled by 1/sqrt(fan-in): wq, wk, wv, then wo when asked."""
    W = {'q': rng.standard_normal((H * hd, d)) / np.sqrt(d), 'k': rng.standard_normal((G * hd, d)) / np.sqrt(d),
         'v': rng.standard_normal((G * hd, d)) / np.sqrt(d)}
    if output:
        W['o'] = rng.standard_normal((d, H * hd)) / np.sqrt(H * hd)
    return W

def softmax(s, sink=None):
    """A max-subtracted softmax of the scores s; a sink logit is one more score, its weight dropped."""
    if sink is not None:
        s = np.append(s, sink)
    a = np.exp(s - s.max())
    a /= a.sum()
    return a if sink is None else a[:-1]

def attention(x, H, G, hd, W, B=None, positions='none', window=None, cap=None, sinks=None, rope_speeds=None, rope_factor=1.0):
    B = B or {}
    n = x.shape[0]
    lin = lambda p, v: W[p] @ v + (B[p] if p in B else 0.0)
    q = [lin('q', x[i]) for i in range(n)]
    k = [lin('k', x[i]) for i in range(n)]
    v = [lin('v', x[i]) for i in range(n)]
    out = []
    for i in range(n):
        keys = [j for j in range(i + 1) if window is None or i - window < j]
        heads = []
        for h in range(H):
            g = h // (H // G)
            qh = q[i][h * hd:(h + 1) * hd]
            if positions == 'rope':
                qh = rope(qh, i, speeds=rope_speeds, factor=rope_factor)
            s = []
            for j in keys:
                kg = k[j][g * hd:(g + 1) * hd]
                if positions == 'rope':
                    kg = rope(kg, j, speeds=rope_speeds, factor=rope_factor)
                s.append(np.dot(qh, kg) / np.sqrt(hd))
            s = np.array(s)
            if cap is not None:
                s = cap * np.tanh(s / cap)
            a = softmax(s, None if sinks is None else sinks[h])
            heads.append(sum(a[m] * v[j][g * hd:(g + 1) * hd] for m, j in enumerate(keys)))
        concat = np.concatenate(heads)
        out.append(lin('o', concat) if 'o' in W else concat)
    return np.array(out)
