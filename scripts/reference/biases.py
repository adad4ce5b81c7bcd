"""Writes test/fixtures/biases-numpy.json: attention with projection biases, computed by numpy in
float64 from the formulas alone (no code shared with attnstream), as an outside reference for
weights.bq/bk/bv/bo. Run from the repository root: python3 scripts/reference/biases.py

Conventions (those of ../shared/reference-vectors): attention_reference.py's.
Numbers are written with repr, so JSON.parse recovers each double exactly.
"""
import json
import numpy as np

from attention_reference import attention, random_weights

rng = np.random.default_rng(20261129)
cases = []
for name, (n, d, H, G, hd, positions, window, output, biases) in {
    'one_head_all_biases': (6, 4, 1, 1, 4, 'none', None, True, 'qkvo'),
    'multi_head_qkv_biases_no_wo': (7, 6, 2, 2, 3, 'none', None, False, 'qkv'),
    'gqa_rope_qkv_biases_qwen_style': (9, 8, 4, 2, 2, 'rope', None, True, 'qkv'),
    'gqa_rope_window_all_biases': (10, 6, 3, 1, 4, 'rope', 4, True, 'qkvo'),
    'large_biases_only_bv_bo': (5, 4, 2, 1, 2, 'none', None, True, 'vo'),
}.items():
    x = rng.standard_normal((n, d))
    W = random_weights(rng, d, H, G, hd, output)
    scale = 30.0 if name.startswith('large') else 1.0
    widths = {'q': H * hd, 'k': G * hd, 'v': G * hd, 'o': d}
    B = {p: scale * rng.standard_normal(widths[p]) for p in biases}
    y = attention(x, H, G, hd, W, B, positions, window)
    cases.append({
        'name': name,
        'config': {'n': n, 'dim': d, 'heads': H, 'kvHeads': G, 'headDim': hd, 'positions': positions, 'window': window},
        'x': x.tolist(),
        'weights': {**{f'w{p}': W[p].reshape(-1).tolist() for p in W}, **{f'b{p}': B[p].tolist() for p in B}},
        'outputs': y.tolist(),
    })

doc = {
    'description': 'Attention with projection biases (y = W x + b), numpy float64; see scripts/reference/biases.py',
    'numpy_version': np.__version__,
    'cases': cases,
}
with open('test/fixtures/biases-numpy.json', 'w') as f:
    json.dump(doc, f, indent=1)
print(len(cases), 'cases written')
