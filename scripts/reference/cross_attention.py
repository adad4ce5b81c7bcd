"""Writes test/fixtures/cross-attention-numpy.json: cross-attention (queries over a fixed memory,
as an encoder-decoder's decoder attends the encoder's outputs), computed by numpy in float64 from
the formulas alone, as an outside reference for createCrossAttention.
Run from the repository root: python3 scripts/reference/cross_attention.py

q = Wq x + bq per query, k = Wk m + bk and v = Wv m + bv per memory row (Linear layout), query head
h reads kv head h // (H / G), scores q.k / sqrt(head_dim) over every memory row (no mask, no
positions), a softmax (with sink logits: one more score per head, dropped after the softmax),
output = Wo concat(heads) + bo.
"""
import json
import numpy as np

from attention_reference import softmax, random_weights

def cross(x, m, H, G, hd, W, B, sinks=None):
    lin = lambda p, v: W[p] @ v + B.get(p, 0.0)
    k = [lin('k', r) for r in m]
    v = [lin('v', r) for r in m]
    out = []
    for xi in x:
        q = lin('q', xi)
        heads = []
        for h in range(H):
            g = h // (H // G)
            s = np.array([np.dot(q[h * hd:(h + 1) * hd], kj[g * hd:(g + 1) * hd]) for kj in k]) / np.sqrt(hd)
            a = softmax(s, None if sinks is None else sinks[h])
            heads.append(sum(a[j] * v[j][g * hd:(g + 1) * hd] for j in range(len(m))))
        out.append(lin('o', np.concatenate(heads)))
    return np.array(out)

rng = np.random.default_rng(20261129)
cases = []
for name, (nq, nm, d, H, G, hd, gain, biases, sinks) in {
    'whisper_like_biases_q_v_o': (5, 9, 8, 2, 2, 4, 1.5, ('q', 'v', 'o'), None),
    'gqa_sink_logits_long_memory': (4, 70, 12, 4, 2, 3, 1.0, (), [0.5, -1.0, 2.0, 0.0]),
    'one_query_one_row': (1, 1, 4, 1, 1, 4, 3.0, ('k',), None),
}.items():
    x = rng.standard_normal((nq, d)) * gain
    m = rng.standard_normal((nm, d)) * gain
    W = random_weights(rng, d, H, G, hd)
    size = {'q': H * hd, 'k': G * hd, 'v': G * hd, 'o': d}
    B = {p: rng.standard_normal(size[p]) * 0.2 for p in biases}
    cases.append({
        'name': name,
        'options': {'dim': d, 'heads': H, 'kvHeads': G, 'headDim': hd, **({} if sinks is None else {'sinkLogits': sinks})},
        'x': x.tolist(),
        'memory': m.tolist(),
        'weights': {**{f'w{p}': W[p].reshape(-1).tolist() for p in W}, **{f'b{p}': B[p].tolist() for p in B}},
        'outputs': cross(x, m, H, G, hd, W, B, None if sinks is None else np.array(sinks)).tolist(),
    })

with open('test/fixtures/cross-attention-numpy.json', 'w') as f:
    json.dump({'description': 'cross-attention, numpy float64; see scripts/reference/cross_attention.py', 'numpy_version': np.__version__, 'cases': cases}, f, indent=1)
print(len(cases), 'cases written')
