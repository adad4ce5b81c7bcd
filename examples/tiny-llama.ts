/**
 * A Llama-architecture decoder run from its checkpoint file with attnstream's public API:
 * `readSafetensors` opens the weights (BF16, Hugging Face's tensor names), one attention engine
 * per layer holds that layer's KV cache (grouped-query heads, RoPE), `createLinear` runs the MLPs
 * and the unembedding (both keeping the BF16 weights as such: `weightsDtype: 'bfloat16'`, half
 * the memory of float32 and the same numbers), and the rest (embedding lookup, RMSNorm, SwiGLU, residuals) is a few lines
 * here. The prompt goes through each layer at once (`pushMany`), then tokens are decoded one at a
 * time. test/tiny-llama.test.ts checks every position's logits against numpy's float64 forward
 * pass of the same file (scripts/reference/tiny_llama.py).
 *
 *   npx tsx examples/tiny-llama.ts
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createAttentionStack, createLinear, readSafetensors } from '../src/index.js';
import type { AttentionStack, Linear, SafetensorsFile, Vector } from '../src/index.js';

/** The fields of a Llama config.json this decoder reads. */
export interface LlamaConfig {
  readonly vocab_size: number;
  readonly hidden_size: number;
  readonly num_attention_heads: number;
  readonly num_key_value_heads: number;
  readonly head_dim: number;
  readonly intermediate_size: number;
  readonly num_hidden_layers: number;
  readonly rope_theta: number;
  readonly rms_norm_eps: number;
}

interface Layer {
  readonly inputNorm: Float32Array;
  readonly postAttentionNorm: Float32Array;
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;
}

/** A model loaded from a checkpoint: its weights outside attention, and a stack of fresh caches. */
export class TinyLlama {
  readonly config: LlamaConfig;
  /** One attention engine per layer, with that layer's q/k/v/o weights. */
  readonly stack: AttentionStack;
  private readonly embeddings: Float32Array;
  private readonly layers: Layer[];
  private readonly norm: Float32Array;
  private readonly lmHead: Linear;

  constructor(file: SafetensorsFile, config: LlamaConfig) {
    this.config = config;
    const { hidden_size: dim, intermediate_size: hidden, vocab_size: vocab } = config;
    const tensor = (name: string) => file.read(name) as Float32Array;
    // The checkpoint is BF16: kept so, its weights are exact in half the memory float32 takes.
    const linear = (name: string, rows: number, cols: number) => createLinear({ rows, cols, weight: tensor(name), weightsDtype: 'bfloat16' });
    this.embeddings = tensor('model.embed_tokens.weight');
    this.norm = tensor('model.norm.weight');
    this.lmHead = linear('lm_head.weight', vocab, dim);
    const layerNames = Array.from({ length: config.num_hidden_layers }, (_, l) => `model.layers.${l}.`);
    this.layers = layerNames.map((p) => ({
      inputNorm: tensor(`${p}input_layernorm.weight`),
      postAttentionNorm: tensor(`${p}post_attention_layernorm.weight`),
      gate: linear(`${p}mlp.gate_proj.weight`, hidden, dim),
      up: linear(`${p}mlp.up_proj.weight`, hidden, dim),
      down: linear(`${p}mlp.down_proj.weight`, dim, hidden),
    }));
    this.stack = createAttentionStack({
      layers: layerNames.map((p) => ({
        dim,
        heads: config.num_attention_heads,
        kvHeads: config.num_key_value_heads,
        headDim: config.head_dim,
        positions: 'rope' as const,
        ropeBase: config.rope_theta,
        weightsDtype: 'bfloat16' as const,
        weights: {
          wq: tensor(`${p}self_attn.q_proj.weight`),
          wk: tensor(`${p}self_attn.k_proj.weight`),
          wv: tensor(`${p}self_attn.v_proj.weight`),
          wo: tensor(`${p}self_attn.o_proj.weight`),
        },
      })),
    });
  }

  /** Pushes tokens through every layer (all of them at once, layer by layer) and returns each one's logits. */
  push(tokens: readonly number[]): Float32Array[] {
    const dim = this.config.hidden_size;
    let h: Float32Array[] = tokens.map((t) => this.embeddings.slice(t * dim, (t + 1) * dim));
    this.layers.forEach((layer, l) => {
      const attended = this.stack.layer(l).pushMany(h.map((x) => this.rmsNorm(x, layer.inputNorm)));
      h = h.map((x, i) => add(x, attended[i]!.output));
      const normed = h.map((x) => this.rmsNorm(x, layer.postAttentionNorm));
      const gates = layer.gate.applyMany(normed);
      const ups = layer.up.applyMany(normed);
      // SwiGLU: silu(gate) · up.
      for (let i = 0; i < gates.length; i++) gates[i] = (gates[i]! / (1 + Math.exp(-gates[i]!))) * ups[i]!;
      // The gated rows, flat as applyMany returns them, go straight into the next layer.
      const mlp = layer.down.applyMany(gates);
      h = h.map((x, i) => add(x, mlp.subarray(i * dim, (i + 1) * dim)));
    });
    const logits = this.lmHead.applyMany(h.map((x) => this.rmsNorm(x, this.norm)));
    const vocab = this.config.vocab_size;
    return h.map((_, i) => logits.slice(i * vocab, (i + 1) * vocab));
  }

  private rmsNorm(x: Float32Array, weight: Float32Array): Float32Array {
    let squares = 0;
    for (const v of x) squares += v * v;
    const inverse = 1 / Math.sqrt(squares / x.length + this.config.rms_norm_eps);
    return x.map((v, c) => v * inverse * weight[c]!);
  }
}

function add(a: Float32Array, b: Vector): Float32Array {
  return a.map((v, c) => v + b[c]!);
}

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** The model in test/fixtures/tiny-llama.safetensors, its config from the fixture beside it. */
export function loadTinyLlama(): TinyLlama {
  const fixtures = new URL('../test/fixtures/', import.meta.url);
  const file = readSafetensors(readFileSync(new URL('tiny-llama.safetensors', fixtures)));
  const { config } = JSON.parse(readFileSync(new URL('tiny-llama-expected.json', fixtures), 'utf8')) as { config: LlamaConfig };
  return new TinyLlama(file, config);
}

/** Prefills `prompt` in one pass, then decodes `count` tokens greedily, one push per token. */
export function main(prompt = [3, 14, 7, 1, 25, 9], count = 4): number[] {
  const model = loadTinyLlama();
  let logits = model.push(prompt).at(-1)!;
  const decoded: number[] = [];
  for (let n = 0; n < count; n++) {
    decoded.push(argmax(logits));
    logits = model.push([decoded.at(-1)!])[0]!;
  }
  model.stack.dispose();
  return decoded;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(`prompt 3 14 7 1 25 9 → greedy ${main().join(' ')}`);
}
