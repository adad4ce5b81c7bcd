"""bfloat16 for the fixture scripts: float32 rounded to its upper 16 bits (nearest, ties to even,
as torch.Tensor.to(torch.bfloat16) rounds), and those bits widened back, exactly."""
import numpy as np

def bf16_bits(x):
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)

def bf16_values(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
