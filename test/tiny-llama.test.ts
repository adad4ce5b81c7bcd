import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadTinyLlama, main } from '../examples/tiny-llama.js';

// examples/tiny-llama.ts runs a Llama-architecture checkpoint (BF16, Hugging Face's names) with the
// public API; scripts/reference/tiny_llama.py computed its logits in float64 with numpy.
const expected = JSON.parse(readFileSync(new URL('./fixtures/tiny-llama-expected.json', import.meta.url), 'utf8')) as { tokens: number[]; logits: number[][] };

describe('examples/tiny-llama.ts: a decoder from its checkpoint file', () => {
  it("gives numpy's logits at every position, the prompt in one pass and then token by token (float32: within 1e-5 of the largest logit)", () => {
    const model = loadTinyLlama();
    const prompt = 6;
    const logits = [...model.push(expected.tokens.slice(0, prompt)), ...expected.tokens.slice(prompt).flatMap((t) => model.push([t]))];
    expect(logits).toHaveLength(expected.tokens.length);
    logits.forEach((row, i) => {
      const want = expected.logits[i]!;
      const scale = Math.max(...want.map(Math.abs));
      row.forEach((v, j) => expect(Math.abs(v - want[j]!), `position ${i}, token ${j}`).toBeLessThanOrEqual(1e-5 * scale));
    });
    // The engines cached every token of every layer.
    expect(model.stack.length).toBe(expected.tokens.length);
    model.stack.dispose();
  });

  it("decodes greedily what numpy's logits pick after the prompt, and docs/guides/models.md shows what it prints", () => {
    const argmax = (row: number[]) => row.indexOf(Math.max(...row));
    expect(main(expected.tokens.slice(0, 6), 1)).toEqual([argmax(expected.logits[5]!)]);
    const guide = readFileSync(new URL('../docs/guides/models.md', import.meta.url), 'utf8');
    expect(guide).toContain(`npx tsx examples/tiny-llama.ts\nprompt 3 14 7 1 25 9 → greedy ${main().join(' ')}\n`);
  });
});
