"""Writes test/fixtures/dynamic-ntk-numpy.json: RoPE's speeds under dynamic NTK scaling (Hugging
Face's rope_type "dynamic", _compute_dynamic_ntk_parameters, written out in float64) for a
sequence of a given length, and attention over such a sequence with them (one forward pass over
all of it, as Hugging Face runs a prompt). An outside reference for dynamicNtkRopeFrequencies.
Run from the repository root: python3 scripts/reference/dynamic_ntk.py

Conventions: attention_reference.py's (rotate-half pairs, scores q.k / sqrt(head_dim)).
"""
import json
import numpy as np

from attention_reference import attention, random_weights

def dynamic_ntk(rope_dim, base, factor, original, seq_len):
    seq_len = max(seq_len, original)
    base = base * ((factor * seq_len / original) - (factor - 1)) ** (rope_dim / (rope_dim - 2))
    return 1.0 / (base ** (np.arange(0, rope_dim, 2) / rope_dim))

scalings = {
    'within_the_original_context': dict(rope_dim=128, base=10000.0, factor=2.0, original=4096, seq_len=4096),
    'four_times_the_original': dict(rope_dim=128, base=10000.0, factor=2.0, original=4096, seq_len=16384),
    'partial_rotary_large_factor': dict(rope_dim=32, base=500000.0, factor=8.0, original=2048, seq_len=100000),
    'factor_below_one': dict(rope_dim=4, base=10000.0, factor=0.5, original=64, seq_len=65),
}
frequencies = [{'name': name, 'scaling': s, 'ropeFrequencies': dynamic_ntk(**s).tolist()} for name, s in scalings.items()]

rng = np.random.default_rng(20261201)
n, d, H, G, hd = 12, 16, 4, 2, 8
s = dict(rope_dim=hd, base=10000.0, factor=3.0, original=8, seq_len=n)
x = rng.standard_normal((n, d)) * 2.0
W = random_weights(rng, d, H, G, hd)
case = {
    'name': 'dynamic_ntk_past_the_original_context',
    'scaling': s,
    'options': {'dim': d, 'heads': H, 'kvHeads': G, 'headDim': hd},
    'x': x.tolist(),
    'weights': {f'w{p}': W[p].reshape(-1).tolist() for p in W},
    'outputs': attention(x, H, G, hd, W, positions='rope', rope_speeds=dynamic_ntk(**s)).tolist(),
}

with open('test/fixtures/dynamic-ntk-numpy.json', 'w') as f:
    json.dump({'description': 'dynamic NTK RoPE scaling, numpy float64; see scripts/reference/dynamic_ntk.py', 'numpy_version': np.__version__,
               'frequencies': frequencies, 'cases': [case]}, f, indent=1)
print(len(frequencies), 'scalings and 1 attention case written')
