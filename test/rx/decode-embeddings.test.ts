import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { decodeEmbeddings, EmbeddingTable } from '../../src/rx/index.js';

// test/embedding-format.test.ts tests the format itself (round trips, every refusal); this file
// tests what a user of the package relies on: finding the shipped table and decoding it.

const root = new URL('../../', import.meta.url);

describe('decodeEmbeddings from attnstream/rx: the shipped table, as an npm user loads it', () => {
  it('the package ships the data file, and the path its TSDoc builds from attnstream/package.json leads to it', () => {
    const { files, exports } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
    expect(files).toContain('data/embeddings-20k.bin');
    expect(Object.keys(exports)).toContain('./package.json');
    // Plain Node, resolving the package by its name through its exports map, as an installed copy would.
    const script = "process.stdout.write(new URL('data/embeddings-20k.bin', import.meta.resolve('attnstream/package.json')).href)";
    const resolved = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(resolved).toBe(new URL('data/embeddings-20k.bin', root).href);
  });

  it('decodes it to 20,000 lower-case words of 100 finite numbers, which build a table with lowercase: true', () => {
    const { words, dim, vectors } = decodeEmbeddings(new Uint8Array(readFileSync(new URL('data/embeddings-20k.bin', root))));
    expect([words.length, dim, vectors.length]).toEqual([20_000, 100, 2_000_000]);
    expect(words.slice(0, 3)).toEqual(['the', ',', '.']);
    expect(words.every((word) => word === word.toLowerCase())).toBe(true);
    expect(vectors.every(Number.isFinite)).toBe(true);
    const table = EmbeddingTable.fromMatrix(words, vectors, dim, { lowercase: true });
    expect(table.has('Dog')).toBe(true);
  });

  it("decodes another realm's Uint8Array (a vm context's, an iframe's) as its own", () => {
    // Found by an isolation hunt: instanceof Uint8Array refused it as "expected a Uint8Array".
    const bytes = readFileSync(new URL('data/embeddings-20k.bin', root));
    const foreign = runInNewContext(`new Uint8Array(${bytes.length})`) as Uint8Array;
    foreign.set(bytes);
    expect(decodeEmbeddings(foreign).words.slice(0, 3)).toEqual(['the', ',', '.']);
  });

  it('refuses what is not an embedding file with an AttentionError INVALID_ARGUMENT', () => {
    const notATable = new TextEncoder().encode('PK\u0003\u0004 a zip file, say, of more than twenty bytes');
    expect(() => decodeEmbeddings(notATable)).toThrow(expect.objectContaining({ name: 'AttentionError', code: 'INVALID_ARGUMENT', details: { field: 'bytes' } }));
    expect(() => decodeEmbeddings([65, 84, 83, 69] as unknown as Uint8Array)).toThrow(/embedding-format: expected a Uint8Array/);
  });

  it('neither the decoder nor the modules it imports use a Node built-in, so it runs in a browser', () => {
    for (const file of ['rx/decode-embeddings.ts', 'rx/embedding-format.ts', 'cache/caller-bytes.ts', 'kernels/float16.ts']) {
      // The code only: the TSDoc example reads the file with node:fs, as a Node user would.
      const source = readFileSync(new URL(`src/${file}`, root), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      expect(source, file).not.toMatch(/from '(node:|fs|path|buffer)/);
      expect(source, file).not.toMatch(/\b(Buffer|process|require)\b/);
    }
  });
});
