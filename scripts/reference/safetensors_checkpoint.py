"""Writes test/fixtures/checkpoint.safetensors and test/fixtures/checkpoint-expected.json: a small
safetensors file laid out by hand from the format's specification (an 8-byte little-endian header
length, the JSON header with dtype, shape and data_offsets per tensor, then the raw little-endian
bytes), holding the dtypes Hugging Face checkpoints use (F16, BF16, F32) and others, with the
numbers each tensor holds as numpy reads them. An outside reference for readSafetensors.
Run from the repository root: python3 scripts/reference/safetensors_checkpoint.py

BF16 is written as the upper 16 bits of each float32, rounded to nearest, ties to even, as
torch.Tensor.to(torch.bfloat16) rounds.
"""
import json
import struct
import numpy as np

from bfloat16 import bf16_bits, bf16_values

rng = np.random.default_rng(20261129)
f16 = np.array([[0.0, -0.0, 1.0, -2.5], [65504.0, 6e-8, 1e-5, np.inf], [-np.inf, 0.1, -3.140625, 1234.5]], dtype=np.float16)
bf16_source = np.array([1.0, -0.0, 3.0e38, 1e-40, np.inf, -np.inf, 0.1, -123.456, 1.00390625, 1.01171875], dtype=np.float32)
bf16 = bf16_bits(bf16_source)
tensors = {
    'model.layers.0.self_attn.q_proj.weight': ('F16', f16.shape, f16.tobytes(), f16.astype(np.float64)),
    'model.layers.0.self_attn.sinks': ('BF16', bf16.shape, bf16.tobytes(), bf16_values(bf16)),
    'lm_head.weight': ('F32', (2, 3), rng.standard_normal((2, 3)).astype(np.float32).tobytes(), None),
    'norm.eps': ('F64', (1,), np.array([1e-300], dtype=np.float64).tobytes(), np.array([1e-300])),
    'ids': ('I32', (3,), np.array([-7, 0, 2**31 - 1], dtype=np.int32).tobytes(), np.array([-7, 0, 2**31 - 1])),
    'codes': ('I8', (2,), np.array([-128, 127], dtype=np.int8).tobytes(), np.array([-128, 127])),
    'position_ids': ('I64', (2,), np.array([0, 1], dtype=np.int64).tobytes(), None),
}
header = {'__metadata__': {'format': 'pt'}}
data = b''
expected = []
for name, (dtype, shape, raw, values) in tensors.items():
    header[name] = {'dtype': dtype, 'shape': list(shape), 'data_offsets': [len(data), len(data) + len(raw)]}
    data += raw
    if values is None and dtype == 'F32':
        values = np.frombuffer(raw, dtype=np.float32).astype(np.float64)
    expected.append({'name': name, 'dtype': dtype, 'shape': list(shape),
                     'values': None if values is None else [v if np.isfinite(v) else str(v) for v in np.asarray(values, dtype=np.float64).reshape(-1).tolist()]})
text = json.dumps(header).encode()
with open('test/fixtures/checkpoint.safetensors', 'wb') as f:
    f.write(struct.pack('<Q', len(text)) + text + data)
with open('test/fixtures/checkpoint-expected.json', 'w') as f:
    json.dump({'description': 'see scripts/reference/safetensors_checkpoint.py', 'numpy_version': np.__version__, 'metadata': header['__metadata__'], 'tensors': expected}, f, indent=1)
print(len(tensors), 'tensors written')
