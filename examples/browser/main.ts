// Attention as you type: every word of the text box is streamed through one engine the page owns,
// and its heatmap row drawn as it comes out. An edit keeps the rows before the first changed word,
// rolls the cache back to them with `truncate`, and streams only the rest; a long paste is pushed
// by `generate` with `yieldEvery`, so the page keeps painting and reacting while it works.
import { defer, EMPTY, fromEvent, map, merge, startWith, switchMap, tap } from 'rxjs';
import type { Observable } from 'rxjs';
import { AttentionError, createAttention } from '../../src/index.js';
import type { Attention, AttentionStep } from '../../src/index.js';
import { EmbeddingTable, generate, tokenize } from '../../src/rx/index.js';
import { attentionRow } from '../../src/cli/attention-row.js';
import type { AttentionRow } from '../../src/cli/attention-row.js';
import { formatWeight } from '../../src/cli/format-weight.js';
import { heatCss, inkCss } from '../../src/cli/heat-color.js';
import { rowWeights } from '../../src/cli/row-weights.js';
import { topAttended } from '../../src/cli/top-attended.js';
import { decodeEmbeddings } from '../../scripts/embedding-format.js';
import dataUrl from '../../data/embeddings-20k.bin?url';

/** Cells drawn per row; earlier positions are summed into one leading cell, so the DOM stays small. */
const MAX_CELLS = 40;
/** Tokens pushed between two yields to the event loop. */
const YIELD_EVERY = 16;

const text = element<HTMLTextAreaElement>('text');
const headsSelect = element<HTMLSelectElement>('heads');
const windowSelect = element<HTMLSelectElement>('window');
const status = element('status');
const columns = element('columns');
const rowsElement = element('rows');

const bytes = new Uint8Array(await (await fetch(dataUrl)).arrayBuffer());
const { words: vocabulary, dim, vectors } = decodeEmbeddings(bytes);
const table = EmbeddingTable.fromMatrix(vocabulary, vectors, dim, { lowercase: true, fallback: new Float32Array(dim) });

let engine: Attention = newEngine();
/** The words whose rows are on the page: always the engine's tokens, one for one. */
let shown: string[] = [];
const counts = { kept: 0, pushed: 0, truncations: 0, resets: 0 };

merge(fromEvent(text, 'input'), fromEvent(headsSelect, 'change').pipe(tap(restart)), fromEvent(windowSelect, 'change').pipe(tap(restart)))
  .pipe(
    startWith(null),
    map(() => tokenize(text.value)),
    // A new edit cancels the rest of a long paste still being pushed: switchMap unsubscribes, and
    // generate stops before its next token.
    switchMap((words) => update(words)),
  )
  .subscribe({ error: (error: unknown) => (status.textContent = `error: ${String(error)}`) });

text.disabled = false;
document.body.dataset.ready = 'true';

/** Keeps the rows of the unchanged prefix and streams the words after it. */
function update(words: string[]): Observable<AttentionStep> {
  let keep = 0;
  while (keep < shown.length && keep < words.length && shown[keep] === words[keep]) keep++;
  keep = rollBack(keep);
  counts.kept = keep;
  counts.pushed = 0;
  drawColumns(words);
  showStatus(words.length);
  if (keep === words.length) return EMPTY;
  return defer(() => {
    let next = keep;
    return generate({
      engine,
      first: table.lookup(words[next]!),
      next: () => (++next < words.length ? table.lookup(words[next]!) : null),
      maxTokens: words.length - keep,
      yieldEvery: YIELD_EVERY,
    }).pipe(
      tap((step) => {
        shown.push(words[step.index]!);
        counts.pushed++;
        rowsElement.append(drawRow(attentionRow(step, words)));
        showStatus(words.length);
      }),
    );
  });
}

/** Rolls the engine and the rows back to the first `keep` words, or to none; returns how many it kept. */
function rollBack(keep: number): number {
  if (keep === shown.length) return keep;
  try {
    engine.truncate(keep);
    counts.truncations++;
  } catch (error) {
    // With a window, keys the kept words still need may already be evicted: start over.
    if (!(error instanceof AttentionError && error.code === 'EVICTED')) throw error;
    engine.reset();
    counts.resets++;
    keep = 0;
  }
  shown = shown.slice(0, keep);
  while (rowsElement.children.length > keep) rowsElement.lastElementChild!.remove();
  return keep;
}

/** New engine for new settings; the next update recomputes every row. */
function restart(): void {
  engine.dispose();
  engine = newEngine();
  shown = [];
  rowsElement.replaceChildren();
}

function newEngine(): Attention {
  const heads = Number(headsSelect.value);
  const window = windowSelect.value === '' ? undefined : Number(windowSelect.value);
  return createAttention({ dim, heads, scale: 1 / Math.sqrt(dim / heads), withWeights: true, ...(window === undefined ? {} : { window }) });
}

function drawRow(row: AttentionRow): HTMLElement {
  const weights = rowWeights(row, 'mean');
  const first = Math.max(0, row.index - MAX_CELLS + 1);
  const element = document.createElement('div');
  element.className = 'row';
  element.dataset.index = String(row.index);
  element.dataset.word = row.word;
  const label = span('label', row.word);
  if (!table.has(row.word)) {
    label.classList.add('unknown');
    label.title = 'not in the table: a zero vector';
  }
  const cells = span('cells');
  // Earlier words this row attended (none with a small window) share one leading cell.
  if (row.positions[0]! < first) {
    let rest = 0;
    row.positions.forEach((p, n) => {
      if (p < first) rest += weights[n]!;
    });
    const cell = span('cell rest', '…');
    cell.dataset.weight = String(rest);
    cell.title = `${first} earlier words: ${rest.toFixed(3)}`;
    cells.append(cell);
  }
  const byPosition = new Map<number, number>();
  row.positions.forEach((p, n) => byPosition.set(p, weights[n]!));
  for (let p = first; p <= row.index; p++) {
    const weight = byPosition.get(p);
    const cell = span('cell');
    if (weight === undefined) {
      cell.classList.add('masked');
    } else {
      cell.dataset.position = String(p);
      cell.dataset.weight = String(weight);
      cell.style.background = heatCss(weight);
      cell.style.color = inkCss(weight);
      cell.textContent = formatWeight(weight).trim();
      cell.title = `${row.word} → ${shownWord(p)}: ${weight.toFixed(3)}`;
    }
    cells.append(cell);
  }
  const top = span('top');
  for (const t of topAttended(row, shown, 3)) {
    if (top.childNodes.length > 0) top.append(' · ');
    const b = document.createElement('b');
    b.textContent = t.word;
    top.append(b, ` ${t.weight.toFixed(2)}`);
  }
  element.append(label, cells, top);
  return element;
}

function drawColumns(words: string[]): void {
  columns.replaceChildren(span('label'), ...(words.length <= MAX_CELLS ? words.map((w) => span('column', w)) : []));
}

function showStatus(total: number): void {
  const stats = engine.stats();
  status.dataset.kept = String(counts.kept);
  status.dataset.pushed = String(counts.pushed);
  status.dataset.truncations = String(counts.truncations);
  status.dataset.resets = String(counts.resets);
  status.dataset.rows = String(shown.length);
  status.textContent =
    `${shown.length} of ${total} words · cache: ${stats.retained} tokens, ${(stats.bytes / 1024).toFixed(0)} KiB` +
    ` · last edit kept ${counts.kept} rows and pushed ${counts.pushed} · truncations ${counts.truncations}` +
    (counts.resets > 0 ? ` · restarts after eviction ${counts.resets}` : '');
}

function shownWord(position: number): string {
  return shown[position] ?? '';
}

function span(className: string, content?: string): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = className;
  if (content !== undefined) s.textContent = content;
  return s;
}

function element<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`missing #${id}`);
  return found as T;
}
