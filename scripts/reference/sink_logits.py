"""Writes test/fixtures/sink-logits-numpy.json: attention with learned sink logits (gpt-oss's
`sinks`: one logit per query head joins each softmax and weighs no value), computed by numpy in
float64 from the formulas alone, as an outside reference for the sinkLogits option.
Run from the repository root: python3 scripts/reference/sink_logits.py

Conventions: attention_reference.py's.
"""
import json
import numpy as np

from attention_reference import attention, random_weights

rng = np.random.default_rng(20261129)
cases = []
for name, (n, d, H, G, hd, positions, window, gain, biases, sinks) in {
    'one_head_sink_0': (6, 4, 1, 1, 4, 'none', None, 1.0, False, [0.0]),
    'gpt_oss_like_gqa_rope_window_biases': (10, 8, 4, 2, 4, 'rope', 4, 2.0, True, [1.5, -0.5, 3.0, 0.25]),
    'dominant_and_negligible_sinks': (7, 8, 2, 1, 8, 'rope', None, 3.0, False, [40.0, -40.0]),
}.items():
    x = rng.standard_normal((n, d)) * gain
    W = random_weights(rng, d, H, G, hd)
    B = {'q': rng.standard_normal(H * hd) * 0.1, 'k': rng.standard_normal(G * hd) * 0.1,
         'v': rng.standard_normal(G * hd) * 0.1, 'o': rng.standard_normal(d) * 0.1} if biases else {}
    cases.append({
        'name': name,
        'options': {'dim': d, 'heads': H, 'kvHeads': G, 'headDim': hd, 'sinkLogits': sinks, 'positions': positions, **({} if window is None else {'window': window})},
        'x': x.tolist(),
        'weights': {**{f'w{p}': W[p].reshape(-1).tolist() for p in W}, **{f'b{p}': B[p].tolist() for p in B}},
        'outputs': attention(x, H, G, hd, W, B, positions, window, None, np.array(sinks)).tolist(),
    })

with open('test/fixtures/sink-logits-numpy.json', 'w') as f:
    json.dump({'description': 'learned sink logits, numpy float64; see scripts/reference/sink_logits.py', 'numpy_version': np.__version__, 'cases': cases}, f, indent=1)
print(len(cases), 'cases written')
