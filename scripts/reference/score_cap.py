"""Writes test/fixtures/score-cap-numpy.json: attention with soft-capped scores
(s -> cap * tanh(s / cap), Gemma 2's attn_logit_softcapping), computed by numpy in float64 from the
formulas alone, as an outside reference for the scoreCap option.
Run from the repository root: python3 scripts/reference/score_cap.py

Conventions: attention_reference.py's.
"""
import json
import numpy as np

from attention_reference import attention, random_weights

rng = np.random.default_rng(20261131)
cases = []
for name, (n, d, H, G, hd, cap, positions, window, gain) in {
    'one_head_cap_2': (6, 4, 1, 1, 4, 2.0, 'none', None, 3.0),
    'gemma2_like_gqa_rope_window_cap_5': (10, 8, 4, 2, 4, 5.0, 'rope', 4, 4.0),
    'cap_50_large_scores': (7, 8, 2, 1, 8, 50.0, 'rope', None, 12.0),
}.items():
    x = rng.standard_normal((n, d)) * gain
    W = random_weights(rng, d, H, G, hd)
    cases.append({
        'name': name,
        'options': {'dim': d, 'heads': H, 'kvHeads': G, 'headDim': hd, 'scoreCap': cap, 'positions': positions, **({} if window is None else {'window': window})},
        'x': x.tolist(),
        'weights': {f'w{p}': W[p].reshape(-1).tolist() for p in W},
        'outputs': attention(x, H, G, hd, W, None, positions, window, cap).tolist(),
    })

with open('test/fixtures/score-cap-numpy.json', 'w') as f:
    json.dump({'description': 'soft-capped scores, numpy float64; see scripts/reference/score_cap.py', 'numpy_version': np.__version__, 'cases': cases}, f, indent=1)
print(len(cases), 'cases written')
