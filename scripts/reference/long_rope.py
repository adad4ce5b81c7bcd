"""Writes test/fixtures/long-rope-numpy.json: RoPE's speeds and attention factor under LongRoPE
scaling (Hugging Face's rope_type "longrope", Phi-3's "su": _compute_longrope_parameters, written
out in float64), and attention with them as Hugging Face applies them: cos and sin multiplied by
the attention factor, RoPE over the whole head, the long factors when the sequence is longer than
the original context. An outside reference for longRope.
Run from the repository root: python3 scripts/reference/long_rope.py

Conventions: attention_reference.py's (rotate-half pairs, scores q.k / sqrt(head_dim)).
"""
import json
import math
import numpy as np

from attention_reference import attention, random_weights

def long_rope(rope_dim, base, factor, original, short_factor, long_factor, seq_len, attention_factor=None):
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
    ext = np.array(long_factor if seq_len > original else short_factor, dtype=np.float64)
    inv = 1.0 / (ext * base ** (np.arange(0, rope_dim, 2) / rope_dim))
    return inv, attention_factor

def rising(count, top):
    """Divisors rising from 1 to `top` along the pairs, the shape of Phi-3's long factors."""
    return (1 + (top - 1) * (np.arange(count) / max(count - 1, 1)) ** 2).tolist()

scalings = {
    # Phi-3 128k's shape: head_dim 96, max 131072 over an original 4096 (factor 32)
    'phi3_long': dict(rope_dim=96, base=10000.0, factor=32.0, original=4096, short_factor=rising(48, 1.5), long_factor=rising(48, 60.0), seq_len=16384),
    'phi3_short': dict(rope_dim=96, base=10000.0, factor=32.0, original=4096, short_factor=rising(48, 1.5), long_factor=rising(48, 60.0), seq_len=4096),
    'given_attention_factor': dict(rope_dim=16, base=500000.0, factor=8.0, original=2048, short_factor=[1.0] * 8, long_factor=rising(8, 9.0), seq_len=4096, attention_factor=1.5),
    'factor_at_most_one': dict(rope_dim=8, base=10000.0, factor=1.0, original=64, short_factor=[1.0, 1.25, 1.5, 2.0], long_factor=[2.0] * 4, seq_len=65),
}
frequencies = []
for name, s in scalings.items():
    inv, af = long_rope(**s)
    frequencies.append({'name': name, 'scaling': s, 'ropeFrequencies': inv.tolist(), 'attentionFactor': af})

rng = np.random.default_rng(20261130)
n, d, H, G, hd = 12, 16, 4, 2, 8
cases = []
for name, original in (('long_factors_past_the_original_context', 8), ('short_factors_within_it', 64)):
    s = dict(rope_dim=hd, base=10000.0, factor=4.0, original=original, short_factor=[1.0, 1.1, 1.3, 1.7],
             long_factor=[1.5, 3.0, 6.0, 12.0], seq_len=n)
    inv, af = long_rope(**s)
    x = rng.standard_normal((n, d)) * 2.0
    W = random_weights(rng, d, H, G, hd)
    cases.append({
        'name': name,
        'scaling': s,
        'options': {'dim': d, 'heads': H, 'kvHeads': G, 'headDim': hd},
        'x': x.tolist(),
        'weights': {f'w{p}': W[p].reshape(-1).tolist() for p in W},
        'outputs': attention(x, H, G, hd, W, positions='rope', rope_speeds=inv, rope_factor=af).tolist(),
    })

with open('test/fixtures/long-rope-numpy.json', 'w') as f:
    json.dump({'description': 'LongRoPE scaling, numpy float64; see scripts/reference/long_rope.py', 'numpy_version': np.__version__,
               'frequencies': frequencies, 'cases': cases}, f, indent=1)
print(len(frequencies), 'scalings and', len(cases), 'attention cases written')
