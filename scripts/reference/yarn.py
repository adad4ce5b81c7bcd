"""Writes test/fixtures/yarn-numpy.json: RoPE's speeds and attention factor under YaRN scaling
(Hugging Face's rope_type "yarn", _compute_yarn_parameters, written out in float64), and attention
with them as Hugging Face applies them: cos and sin multiplied by the attention factor, RoPE over
the whole head. An outside reference for yarnRope.
Run from the repository root: python3 scripts/reference/yarn.py

Conventions: attention_reference.py's (rotate-half pairs, scores q.k / sqrt(head_dim)).
"""
import json
import math
import numpy as np

from attention_reference import attention, random_weights

def yarn(rope_dim, base, factor, original, beta_fast=32.0, beta_slow=1.0, truncate=True,
         attention_factor=None, mscale=None, mscale_all_dim=None):
    def get_mscale(scale, k=1.0):
        return 1.0 if scale <= 1 else 0.1 * k * math.log(scale) + 1.0
    if attention_factor is None:
        attention_factor = get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim) if mscale and mscale_all_dim else get_mscale(factor)
    def correction_dim(rotations):
        return rope_dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(base))
    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, rope_dim - 1)
    if low == high:
        high += 0.001
    pos = base ** (np.arange(0, rope_dim, 2) / rope_dim)
    ramp = np.clip((np.arange(rope_dim // 2) - low) / (high - low), 0, 1)
    extrapolation_factor = 1 - ramp
    inv = (1.0 / (factor * pos)) * (1 - extrapolation_factor) + (1.0 / pos) * extrapolation_factor
    return inv, attention_factor

scalings = {
    'gpt_oss': dict(rope_dim=64, base=150000.0, factor=32.0, original=4096, truncate=False),
    'qwen_long_context': dict(rope_dim=128, base=1000000.0, factor=4.0, original=32768),
    'deepseek_mscale': dict(rope_dim=64, base=10000.0, factor=40.0, original=4096, mscale=1.0, mscale_all_dim=0.707),
    'given_attention_factor_betas': dict(rope_dim=16, base=10000.0, factor=8.0, original=2048, beta_fast=16.0, beta_slow=2.0, attention_factor=1.25),
    'zero_width_ramp': dict(rope_dim=8, base=10000.0, factor=2.0, original=64, beta_fast=2.0, beta_slow=2.0, truncate=False),
}
frequencies = []
for name, s in scalings.items():
    inv, af = yarn(**s)
    frequencies.append({'name': name, 'scaling': s, 'ropeFrequencies': inv.tolist(), 'attentionFactor': af})

rng = np.random.default_rng(20261129)
n, d, H, G, hd = 12, 16, 4, 2, 8
inv, af = yarn(rope_dim=hd, base=10000.0, factor=16.0, original=8)
x = rng.standard_normal((n, d)) * 2.0
W = random_weights(rng, d, H, G, hd)
case = {
    'name': 'yarn_gqa_attention_factor_in_cos_sin',
    'scaling': dict(rope_dim=hd, base=10000.0, factor=16.0, original=8),
    'options': {'dim': d, 'heads': H, 'kvHeads': G, 'headDim': hd, 'positions': 'rope'},
    'x': x.tolist(),
    'weights': {f'w{p}': W[p].reshape(-1).tolist() for p in W},
    'outputs': attention(x, H, G, hd, W, positions='rope', rope_speeds=inv, rope_factor=af).tolist(),
}

with open('test/fixtures/yarn-numpy.json', 'w') as f:
    json.dump({'description': 'YaRN RoPE scaling, numpy float64; see scripts/reference/yarn.py', 'numpy_version': np.__version__,
               'frequencies': frequencies, 'cases': [case]}, f, indent=1)
print(len(frequencies), 'scalings and 1 attention case written')
