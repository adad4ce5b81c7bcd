"""Writes test/fixtures/rope-variants-numpy.json: attention with RoPE's variants, partial rotary
(the first rope_dim numbers of a head rotate), interleaved pairs (2m, 2m + 1) and frequencies
given as such (Llama 3's rope_scaling), computed by numpy
in float64 from the formulas alone, as an outside reference for the ropeDim and ropeStyle options.
Run from the repository root: python3 scripts/reference/rope_variants.py

Conventions as scripts/reference/biases.py: y = W x, query head h reads kv head h // (H / G),
scores q.k / sqrt(head_dim) over keys j <= i, rotation by stream index with speeds
base^(-2m / rope_dim), a max-subtracted softmax, output = W_o concat(heads).
"""
import json
import numpy as np

from attention_reference import random_weights

def llama3_frequencies(rope_dim, base, factor=8.0, low=1.0, high=4.0, original=8192):
    """Hugging Face's rope_scaling type 'llama3' (_compute_llama3_parameters), written out."""
    inv = base ** (-np.arange(0, rope_dim, 2) / rope_dim)
    low_wavelen, high_wavelen = original / low, original / high
    out = []
    for f in inv:
        wavelen = 2 * np.pi / f
        if wavelen < high_wavelen:
            out.append(f)
        elif wavelen > low_wavelen:
            out.append(f / factor)
        else:
            smooth = (original / wavelen - low) / (high - low)
            out.append((1 - smooth) * f / factor + smooth * f)
    return np.array(out)

def rope(u, p, rope_dim, style, base):
    out = u.copy()
    half = rope_dim // 2
    for m in range(half):
        theta = p * (base[m] if isinstance(base, np.ndarray) else base ** (-2.0 * m / rope_dim))
        a, b = (2 * m, 2 * m + 1) if style == 'interleaved' else (m, m + half)
        out[a] = u[a] * np.cos(theta) - u[b] * np.sin(theta)
        out[b] = u[b] * np.cos(theta) + u[a] * np.sin(theta)
    return out

def attention(x, H, G, hd, W, rope_dim, style, base):
    n = x.shape[0]
    q = x @ W['q'].T
    k = x @ W['k'].T
    v = x @ W['v'].T
    out = []
    for i in range(n):
        heads = []
        for h in range(H):
            g = h // (H // G)
            qh = rope(q[i, h * hd:(h + 1) * hd], i, rope_dim, style, base)
            s = np.array([np.dot(qh, rope(k[j, g * hd:(g + 1) * hd], j, rope_dim, style, base)) for j in range(i + 1)]) / np.sqrt(hd)
            a = np.exp(s - s.max())
            a /= a.sum()
            heads.append(a @ v[:i + 1, g * hd:(g + 1) * hd])
        out.append(W['o'] @ np.concatenate(heads))
    return np.array(out)

rng = np.random.default_rng(20261130)
cases = []
for name, (n, d, H, G, hd, rope_dim, style, base) in {
    'interleaved_full_head': (8, 8, 2, 2, 4, 4, 'interleaved', 10000.0),
    'half_partial_quarter_neox_style': (9, 16, 2, 1, 8, 2, 'half', 10000.0),
    'half_partial_odd_head': (7, 10, 2, 2, 5, 4, 'half', 100.0),
    'interleaved_partial_gqa': (10, 12, 4, 2, 6, 4, 'interleaved', 500.0),
    'llama3_scaled_frequencies': (9, 8, 2, 1, 8, 8, 'half', llama3_frequencies(8, 500000.0)),
}.items():
    x = rng.standard_normal((n, d)) * 2
    W = random_weights(rng, d, H, G, hd)
    y = attention(x, H, G, hd, W, rope_dim, style, base)
    cases.append({
        'name': name,
        'options': {'dim': d, 'heads': H, 'kvHeads': G, 'headDim': hd, 'positions': 'rope', 'ropeDim': rope_dim, 'ropeStyle': style,
                    **({'ropeFrequencies': base.tolist()} if isinstance(base, np.ndarray) else {'ropeBase': base})},
        'x': x.tolist(),
        'weights': {f'w{p}': W[p].reshape(-1).tolist() for p in W},
        'outputs': y.tolist(),
    })

with open('test/fixtures/rope-variants-numpy.json', 'w') as f:
    json.dump({'description': 'RoPE variants (partial rotary, interleaved pairs), numpy float64; see scripts/reference/rope_variants.py',
               'numpy_version': np.__version__, 'cases': cases}, f, indent=1)
print(len(cases), 'cases written')
