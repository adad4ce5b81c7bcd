// Soak: a long token stream through the `attend` operator, checking that memory stays flat, that
// sampled outputs equal the batch reference over what the window keeps, and that nothing (engine
// listeners, subscriptions) accumulates. `npm run soak` runs 1,000,000 tokens; the test suite runs
// a shorter stream through the same function.
import { Observable } from 'rxjs';
import type { Subscription } from 'rxjs';
import { batchAttention, createAttention } from '../src/index.js';
import type { Attention } from '../src/index.js';
import { attend, cacheEvents } from '../src/rx/index.js';

export interface SoakOptions {
  readonly tokens: number;
  readonly dim?: number;
  readonly window?: number;
  readonly sinks?: number;
  /** Compare with the batch reference every this many tokens. */
  readonly sampleEvery?: number;
  readonly onProgress?: (done: number) => void;
}

export interface SoakReport {
  readonly tokens: number;
  /** Cache bytes at every sample once the window has filled: all equal when memory is flat. */
  readonly bytes: number[];
  /** Largest scaled difference from the batch reference over the samples. */
  readonly maxError: number;
  readonly samples: number;
  /** Whether the cacheEvents subscription watching the engine ended with the stream (its listener released). */
  readonly eventsClosed: boolean;
  /** Evictions the cache reported: the window at work. */
  readonly evictions: number;
  /** Source subscriptions opened, and still open after completion. */
  readonly subscriptionsOpened: number;
  readonly subscriptionsOpen: number;
  readonly disposed: boolean;
}

/** Token i, a function of i alone, so a window can be rebuilt without keeping the stream. */
export function soakToken(i: number, dim: number): Float64Array {
  let a = (i * 2654435761) >>> 0;
  const x = new Float64Array(dim);
  for (let c = 0; c < dim; c++) {
    a = (Math.imul(a ^ (a >>> 15), 2246822507) + c) >>> 0;
    x[c] = (a / 4294967296) * 2 - 1;
  }
  return x;
}

export function runSoak(options: SoakOptions): Promise<SoakReport> {
  const { tokens, dim = 64, window = 512, sinks = 4, sampleEvery = 50_000, onProgress } = options;
  const engineOptions = { dim, window, sinks, precision: 'float64' } as const;
  let engine: Attention | null = null;
  let subscriptionsOpened = 0;
  let subscriptionsOpen = 0;
  const source = new Observable<Float64Array>((subscriber) => {
    subscriptionsOpened++;
    subscriptionsOpen++;
    for (let i = 0; i < tokens && !subscriber.closed; i++) subscriber.next(soakToken(i, dim));
    subscriber.complete();
    return () => subscriptionsOpen--;
  });
  const bytes: number[] = [];
  let maxError = 0;
  let samples = 0;
  let evictions = 0;
  let events: Subscription | null = null;
  return new Promise((resolve, reject) => {
    source
      .pipe(
        attend(() => {
          engine = createAttention(engineOptions);
          events = cacheEvents(engine).subscribe((e) => {
            if (e.type === 'evict') evictions++;
          });
          return engine;
        }),
      )
      .subscribe({
        next(step) {
          const i = step.index;
          if (i % 10_000 === 0) onProgress?.(i);
          if (i % sampleEvery !== sampleEvery - 1 && i !== tokens - 1) return;
          samples++;
          if (i >= window + sinks + 2 * engine!.stats().blockSize) bytes.push(engine!.stats().bytes);
          const kept: Float64Array[] = [];
          for (let j = 0; j < Math.min(sinks, i + 1); j++) kept.push(soakToken(j, dim));
          for (let j = Math.max(sinks, i - window + 1); j <= i; j++) kept.push(soakToken(j, dim));
          const expected = batchAttention(kept, { dim, precision: 'float64' }).at(-1)!.output;
          let worst = 0;
          let magnitude = 1;
          for (let c = 0; c < dim; c++) {
            worst = Math.max(worst, Math.abs(step.output[c]! - expected[c]!));
            magnitude = Math.max(magnitude, Math.abs(expected[c]!));
          }
          maxError = Math.max(maxError, worst / magnitude);
        },
        error: reject,
        complete() {
          const e = engine!;
          // The operator releases its engine at teardown, which runs right after this handler.
          queueMicrotask(() => resolve({
            tokens,
            bytes,
            maxError,
            samples,
            eventsClosed: events!.closed,
            evictions,
            subscriptionsOpened,
            subscriptionsOpen,
            disposed: e.disposed,
          }));
        },
      });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const tokens = Number(process.argv[2] ?? 1_000_000);
  const started = Date.now();
  const report = await runSoak({ tokens, onProgress: (done) => process.stderr.write(`\r${done.toLocaleString()} / ${tokens.toLocaleString()} tokens`) });
  process.stderr.write('\n');
  const flat = report.bytes.every((b) => b === report.bytes[0]);
  console.log(JSON.stringify({ ...report, bytes: [...new Set(report.bytes)], seconds: (Date.now() - started) / 1000 }, null, 2));
  const ok = flat && report.maxError <= 1e-12 && report.disposed && report.eventsClosed && report.subscriptionsOpen === 0;
  console.log(ok ? 'soak passed' : 'soak FAILED');
  process.exit(ok ? 0 : 1);
}
