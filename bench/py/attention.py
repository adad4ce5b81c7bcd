"""numpy peer for attnstream's benchmark: the decode step as numpy users write it.

Speaks the line protocol of bench/c/attention.c (setup, steps, stream, quit; one JSON reply per
line) so the harness drives both the same way. The cache is head-major, K[h, t, d], preallocated;
a step writes the new key and value into slot n, then scores with one batched matmul, a
max-subtracted softmax and a second matmul over the first n+1 slots. numpy's own thread settings
are left as they are (the harness reports them).

The data come from the harness's hash, value(seed, i), vectorised: token t, head h, channel d has
flat index (t*H + h)*D + d; seeds 1, 2, 3 give queries, keys and values.
"""
import json
import sys
import time

import numpy as np

SEED_Q, SEED_K, SEED_V = 1, 2, 3


def values(seed, start, count):
    """value(seed, i) for i in [start, start + count), as float32, bit-identical to the C and TS."""
    u = np.arange(start, start + count, dtype=np.uint64).astype(np.uint32)
    u ^= np.uint32((seed * 0x9E3779B9) & 0xFFFFFFFF)
    u ^= u >> np.uint32(16)
    u *= np.uint32(0x85EBCA6B)
    u ^= u >> np.uint32(13)
    u *= np.uint32(0xC2B2AE35)
    u ^= u >> np.uint32(16)
    return (u.astype(np.float64) / 4294967296.0 - 0.5).astype(np.float32)


def token_rows(seed, t, heads, head_dim):
    return values(seed, t * heads * head_dim, heads * head_dim).reshape(heads, head_dim)


class Cache:
    def __init__(self, heads, head_dim, cap):
        self.heads, self.head_dim = heads, head_dim
        self.keys = np.empty((heads, cap, head_dim), dtype=np.float32)
        self.values = np.empty((heads, cap, head_dim), dtype=np.float32)
        self.scale = np.float32(1.0 / np.sqrt(head_dim))
        self.length = 0

    def fill(self, n):
        """Tokens 0 … n-1, a block of tokens at a time to bound the temporaries."""
        H, D = self.heads, self.head_dim
        block = max(1, (1 << 22) // (H * D))
        for t0 in range(0, n, block):
            t1 = min(n, t0 + block)
            count = (t1 - t0) * H * D
            self.keys[:, t0:t1, :] = values(SEED_K, t0 * H * D, count).reshape(t1 - t0, H, D).transpose(1, 0, 2)
            self.values[:, t0:t1, :] = values(SEED_V, t0 * H * D, count).reshape(t1 - t0, H, D).transpose(1, 0, 2)
        self.length = n

    def step(self, t, q, k, v):
        """Appends token t (k, v: [H, D]) and returns the attention of q ([H, D]) over 0 … t."""
        self.keys[:, t, :] = k
        self.values[:, t, :] = v
        self.length = t + 1
        K = self.keys[:, : t + 1, :]
        V = self.values[:, : t + 1, :]
        scores = np.matmul(K, q[:, :, None])[:, :, 0] * self.scale
        scores -= scores.max(axis=1, keepdims=True)
        w = np.exp(scores)
        w /= w.sum(axis=1, keepdims=True)
        return np.matmul(w[:, None, :], V)[:, 0, :]


def reply(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main():
    cache = None
    n = 0
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        command, args = parts[0], [int(a) for a in parts[1:]]
        if command == "setup":
            heads, head_dim, n, _threads = args
            t0 = time.perf_counter()
            cache = Cache(heads, head_dim, n + 1)
            cache.fill(n)
            reply({"ok": True, "setupSeconds": time.perf_counter() - t0})
        elif command == "steps":
            (count,) = args
            H, D = cache.heads, cache.head_dim
            # The rows are made before the clock, as every other implementation makes them: the
            # step times attention, not the hash (which costs numpy 8-18 us a token).
            q = token_rows(SEED_Q, n, H, D)
            k = token_rows(SEED_K, n, H, D)
            v = token_rows(SEED_V, n, H, D)
            times = []
            out = None
            for _ in range(count):
                t0 = time.perf_counter()
                out = cache.step(n, q, k, v)
                cache.length = n
                times.append((time.perf_counter() - t0) * 1e6)
            reply({"times": times, "output": out.reshape(-1).astype(float).tolist()})
        elif command == "stream":
            heads, head_dim, tokens, _threads = args
            cache = None
            stream = Cache(heads, head_dim, tokens)
            rows = [[token_rows(seed, t, heads, head_dim) for seed in (SEED_Q, SEED_K, SEED_V)] for t in range(tokens)]
            t0 = time.perf_counter()
            out = None
            for t in range(tokens):
                out = stream.step(t, *rows[t])
            seconds = time.perf_counter() - t0
            reply({"seconds": seconds, "output": out.reshape(-1).astype(float).tolist()})
        elif command == "quit":
            break
        else:
            reply({"error": "unknown command " + command})


if __name__ == "__main__":
    main()
