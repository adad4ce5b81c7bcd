"""Writes test/fixtures/tiny-llama.safetensors and test/fixtures/tiny-llama-expected.json: a tiny
Llama-architecture decoder (random weights rounded to bfloat16, stored as BF16 under Hugging Face's
tensor names) and its logits for a token sequence, computed by numpy in float64 from the
architecture's formulas: token embedding; per layer RMSNorm → attention (q/k/v/o projections,
grouped-query heads, rotate-half RoPE, causal softmax of q·k/√head_dim: attention_reference.py's) → residual, RMSNorm →
SwiGLU MLP (down(silu(gate(x))·up(x))) → residual; final RMSNorm; lm_head. The outside reference for
examples/tiny-llama.ts, which runs the same file with attnstream's public API.
Run from the repository root: python3 scripts/reference/tiny_llama.py
"""
import json
import struct
import numpy as np

from attention_reference import attention
from bfloat16 import bf16_bits, bf16_values

config = {'vocab_size': 40, 'hidden_size': 16, 'num_attention_heads': 4, 'num_key_value_heads': 2, 'head_dim': 4,
          'intermediate_size': 32, 'num_hidden_layers': 2, 'rope_theta': 10000.0, 'rms_norm_eps': 1e-5}
tokens = [3, 14, 7, 1, 25, 9, 9, 30]
rng = np.random.default_rng(20261129)

E, H, G, D, F, V = (config[k] for k in ('hidden_size', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'intermediate_size', 'vocab_size'))
shapes = {'model.embed_tokens.weight': (V, E), 'model.norm.weight': (E,), 'lm_head.weight': (V, E)}
for l in range(config['num_hidden_layers']):
    p = f'model.layers.{l}.'
    shapes.update({p + 'input_layernorm.weight': (E,), p + 'post_attention_layernorm.weight': (E,),
                   p + 'self_attn.q_proj.weight': (H * D, E), p + 'self_attn.k_proj.weight': (G * D, E),
                   p + 'self_attn.v_proj.weight': (G * D, E), p + 'self_attn.o_proj.weight': (E, H * D),
                   p + 'mlp.gate_proj.weight': (F, E), p + 'mlp.up_proj.weight': (F, E), p + 'mlp.down_proj.weight': (E, F)})
W, bits = {}, {}
for name, shape in shapes.items():
    raw = 1.0 + 0.1 * rng.standard_normal(shape) if name.endswith('norm.weight') else rng.standard_normal(shape) / np.sqrt(shape[-1])
    bits[name] = bf16_bits(raw)
    W[name] = bf16_values(bits[name])

def rms_norm(x, w):
    return x / np.sqrt(np.mean(x * x) + config['rms_norm_eps']) * w

h = [W['model.embed_tokens.weight'][t].copy() for t in tokens]
for l in range(config['num_hidden_layers']):
    p = f'model.layers.{l}.'
    x = np.array([rms_norm(v, W[p + 'input_layernorm.weight']) for v in h])
    Wl = {m: W[p + f'self_attn.{m}_proj.weight'] for m in 'qkvo'}
    a = attention(x, H, G, D, Wl, positions='rope', rope_speeds=config['rope_theta'] ** (-np.arange(D // 2) * 2.0 / D))
    h = [h[i] + a[i] for i in range(len(h))]
    for i in range(len(h)):
        y = rms_norm(h[i], W[p + 'post_attention_layernorm.weight'])
        gate, up = W[p + 'mlp.gate_proj.weight'] @ y, W[p + 'mlp.up_proj.weight'] @ y
        h[i] = h[i] + W[p + 'mlp.down_proj.weight'] @ (gate / (1 + np.exp(-gate)) * up)
logits = [W['lm_head.weight'] @ rms_norm(v, W['model.norm.weight']) for v in h]

header, data = {'__metadata__': {'format': 'pt'}}, b''
for name in shapes:
    raw = bits[name].tobytes()
    header[name] = {'dtype': 'BF16', 'shape': list(shapes[name]), 'data_offsets': [len(data), len(data) + len(raw)]}
    data += raw
text = json.dumps(header).encode()
with open('test/fixtures/tiny-llama.safetensors', 'wb') as f:
    f.write(struct.pack('<Q', len(text)) + text + data)
with open('test/fixtures/tiny-llama-expected.json', 'w') as f:
    json.dump({'description': 'see scripts/reference/tiny_llama.py', 'numpy_version': np.__version__, 'config': config,
               'tokens': tokens, 'logits': [row.tolist() for row in logits]}, f, indent=1)
print(len(shapes), 'tensors,', len(data), 'bytes of BF16')
