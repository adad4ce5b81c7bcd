// Attention as you type: every word of the text box streams through the `attend` operator, and its
// heatmap row is drawn as its step comes out. One long-lived subscription,
// `typed.pipe(embed(table), attend(() => (engine = createAttention(…))))`, owns the engine; the
// page keeps a reference to it only to roll it back. An edit keeps the rows before the first
// changed word, rolls the cache back to them with `engine.truncate`, and feeds only the rest into
// `typed`; a long paste is fed 16 words per macrotask, so the page keeps painting and reacting.
// The text and settings live in the URL's hash, so a reload or a shared link shows the same view.
import { asyncScheduler, concat, EMPTY, fromEvent, map, merge, of, scheduled, startWith, Subject, switchMap, tap, throttleTime } from 'rxjs';
import type { Observable, Subscription } from 'rxjs';
import { AttentionError, createAttention } from '../../src/index.js';
import type { Attention, AttentionOptions, AttentionStep } from '../../src/index.js';
import { attend, embed, EmbeddingTable, tokenize } from '../../src/rx/index.js';
import { attentionRow } from '../../src/cli/attention-row.js';
import type { AttentionRow } from '../../src/cli/attention-row.js';
import { formatWeight } from '../../src/cli/format-weight.js';
import { heatCss, inkCss } from '../../src/cli/heat-color.js';
import { rowWeights } from '../../src/cli/row-weights.js';
import { topAttended } from '../../src/cli/top-attended.js';
import { decodeEmbeddings } from '../../src/rx/index.js';
import dataUrl from '../../data/embeddings-20k.bin?url';

/** Cells drawn per row; earlier positions are summed into one leading cell, so the DOM stays small. */
const MAX_CELLS = 40;
/**
 * Rows per chunk of the heatmap. The browser skips the layout and paint of chunks off screen
 * (`content-visibility: auto`); per row, its bookkeeping for 10,000 rows cost more per frame than
 * the attention did (a 10,000-word paste took 27 s).
 */
const CHUNK_ROWS = 64;
/** Words fed into the stream per macrotask. */
const SLICE = 16;
/** Longest text kept in the URL's hash; past it the hash holds the settings only, so links stay short. */
const MAX_HASH_TEXT = 2000;

const text = element<HTMLTextAreaElement>('text');
const headsSelect = element<HTMLSelectElement>('heads');
const windowSelect = element<HTMLSelectElement>('window');
const status = element('status');
const columns = element('columns');
const rowsElement = element('rows');
restoreFromHash();

const { words: vocabulary, dim, vectors } = await loadTable();
const table = EmbeddingTable.fromMatrix(vocabulary, vectors, dim, { lowercase: true, fallback: new Float32Array(dim) });

/** Words going into the attention stream, one `next` per word. */
const typed = new Subject<string>();
/** The engine `attend` made for the current subscription: the operator owns it, the page rolls it back. */
let engine!: Attention;
let stream: Subscription | undefined;
/** The words of the text box as of the latest edit; a step's word is `target[step.index]`. */
let target: string[] = [];
/** The words whose rows are on the page: always the engine's tokens, one for one. */
let shown: string[] = [];
// steps and engines count what came out of `attend` over the page's life: a debug read-out the test checks.
const counts = { kept: 0, pushed: 0, truncations: 0, resets: 0, steps: 0, engines: 0 };

subscribeStream();
merge(fromEvent(text, 'input'), fromEvent(headsSelect, 'change').pipe(tap(subscribeStream)), fromEvent(windowSelect, 'change').pipe(tap(subscribeStream)))
  .pipe(
    startWith(null),
    map(() => tokenize(text.value)),
    // A new edit cancels the rest of a long paste still being fed: switchMap unsubscribes, and
    // the scheduled slices after it never run.
    switchMap((words) => update(words)),
  )
  .subscribe({ error: showError });
// Safari and Firefox throw once a page updates its history some hundred times in seconds: at
// most two writes a second, the last edit always written.
merge(fromEvent(text, 'input'), fromEvent(headsSelect, 'change'), fromEvent(windowSelect, 'change'))
  .pipe(throttleTime(500, asyncScheduler, { leading: true, trailing: true }))
  .subscribe(saveToHash);

text.disabled = false;
headsSelect.disabled = false;
windowSelect.disabled = false;
document.body.dataset.ready = 'true';

/** The word vectors, or a status saying why they did not load (the page then stays disabled). */
async function loadTable(): Promise<ReturnType<typeof decodeEmbeddings>> {
  try {
    const response = await fetch(dataUrl);
    if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText} for ${response.url}`);
    return decodeEmbeddings(new Uint8Array(await response.arrayBuffer()));
  } catch (error) {
    status.textContent = `could not load the word vectors: ${error instanceof Error ? error.message : String(error)}`;
    throw error;
  }
}

/** Sets the text and settings a link's hash gives; a value the page does not offer keeps its default. */
function restoreFromHash(): void {
  const params = new URLSearchParams(location.hash.slice(1));
  for (const select of [headsSelect, windowSelect]) {
    const value = params.get(select.id);
    // Assigning a value no option has would leave the select with nothing selected.
    if (value !== null && Array.from(select.options, (o) => o.value).includes(value)) select.value = value;
  }
  const saved = params.get('text');
  if (saved !== null) text.value = saved;
}

/** Writes the text and settings to the hash, replacing the history entry: a keystroke is no page to go back to. */
function saveToHash(): void {
  const params = new URLSearchParams({ heads: headsSelect.value, window: windowSelect.value });
  if (text.value.length <= MAX_HASH_TEXT) params.set('text', text.value);
  history.replaceState(history.state, '', `#${params}`);
}

/**
 * (Re)subscribes the attention stream with the current settings: unsubscribing the old one makes
 * `attend` dispose its engine, and the factory makes a fresh one. Every row is recomputed by the
 * next update.
 */
function subscribeStream(): void {
  stream?.unsubscribe();
  shown = [];
  rowsElement.replaceChildren();
  stream = typed
    .pipe(
      embed(table),
      attend(() => {
        counts.engines++;
        return (engine = createAttention(currentOptions()));
      }),
    )
    .subscribe({ next: drawStep, error: showError });
}

/** Keeps the rows of the unchanged prefix and feeds the words after it into the stream. */
function update(words: string[]): Observable<readonly string[]> {
  target = words;
  let keep = 0;
  while (keep < shown.length && keep < words.length && shown[keep] === words[keep]) keep++;
  keep = rollBack(keep);
  counts.kept = keep;
  counts.pushed = 0;
  drawColumns(words);
  showStatus();
  if (keep === words.length) return EMPTY;
  const slices: string[][] = [];
  for (let i = keep; i < words.length; i += SLICE) slices.push(words.slice(i, i + SLICE));
  // The first slice at once, so a keystroke's new row replaces the old one within the same task
  // (no frame without it); each further slice on its own macrotask, so the tab paints in between.
  return concat(of(slices[0]!), scheduled(slices.slice(1), asyncScheduler)).pipe(tap((slice) => slice.forEach((word) => typed.next(word))));
}

/** Rolls the engine and the rows back to the first `keep` words, or to none; returns how many it kept. */
function rollBack(keep: number): number {
  if (keep === shown.length) return keep;
  try {
    engine.truncate(keep);
    counts.truncations++;
  } catch (error) {
    // With a window, keys the kept words still need may already be evicted: start over with a fresh engine.
    if (!(error instanceof AttentionError && error.code === 'EVICTED')) throw error;
    subscribeStream();
    counts.resets++;
    return 0;
  }
  shown = shown.slice(0, keep);
  // One range, not a row at a time: removing rows one by one from the end, each check of the
  // count counted them again, so an edit near the start of a long text took quadratic time.
  const chunk = rowsElement.children[Math.floor(keep / CHUNK_ROWS)]!;
  const rows = document.createRange();
  // From the first row dropped (there is one: keep < the rows shown), its whole chunk when it begins one.
  rows.setStartBefore(keep % CHUNK_ROWS === 0 ? chunk : chunk.children[keep % CHUNK_ROWS]!);
  rows.setEndAfter(rowsElement.lastElementChild!);
  rows.deleteContents();
  return keep;
}

/** Draws the row of a step that came out of `attend`. */
function drawStep(step: AttentionStep): void {
  shown.push(target[step.index]!);
  counts.steps++;
  counts.pushed++;
  let chunk = rowsElement.lastElementChild;
  if (chunk === null || chunk.children.length === CHUNK_ROWS) {
    chunk = document.createElement('div');
    chunk.className = 'chunk';
    rowsElement.append(chunk);
  }
  chunk.append(drawRow(attentionRow(step, target)));
  showStatus();
}

function currentOptions(): AttentionOptions {
  const heads = Number(headsSelect.value);
  const window = windowSelect.value === '' ? undefined : Number(windowSelect.value);
  return { dim, heads, scale: 1 / Math.sqrt(dim / heads), withWeights: true, ...(window === undefined ? {} : { window }) };
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
    // Shaded and numbered as any cell: it often holds most of the row's weight.
    const cell = span('cell rest', `…${formatWeight(rest).trim()}`);
    cell.dataset.weight = String(rest);
    cell.style.background = heatCss(rest);
    cell.style.color = inkCss(rest);
    cell.title = `${first} earlier words: ${rest.toFixed(3)}`;
    cells.append(cell);
  }
  // Only the cells drawn: the positions from `first` on, the last ones of an ascending list.
  const byPosition = new Map<number, number>();
  for (let n = row.positions.length - 1; n >= 0 && row.positions[n]! >= first; n--) byPosition.set(row.positions[n]!, weights[n]!);
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
  const attended = topAttended(row, shown, 3);
  for (const t of attended) {
    if (top.childNodes.length > 0) top.append(' · ');
    const b = document.createElement('b');
    b.textContent = t.word;
    top.append(b);
    // A word listed twice ("the" at 0 and at 4) is told apart by its place: word n, counted from 1.
    if (attended.filter((u) => u.word.toLowerCase() === t.word.toLowerCase()).length > 1) {
      const place = document.createElement('sub');
      place.textContent = String(t.index + 1);
      top.append(place);
    }
    top.append(` ${t.weight.toFixed(2)}`);
  }
  element.append(label, cells, top);
  return element;
}

function drawColumns(words: string[]): void {
  columns.replaceChildren(span('label'), ...(words.length <= MAX_CELLS ? words.map((w) => span('column', w)) : []));
}

function showStatus(): void {
  const stats = engine.stats();
  status.dataset.kept = String(counts.kept);
  status.dataset.pushed = String(counts.pushed);
  status.dataset.truncations = String(counts.truncations);
  status.dataset.resets = String(counts.resets);
  status.dataset.steps = String(counts.steps);
  status.dataset.engines = String(counts.engines);
  status.dataset.rows = String(shown.length);
  status.textContent =
    `${shown.length} of ${target.length} words · cache: ${stats.retained} tokens, ${(stats.bytes / 1024).toFixed(0)} KiB` +
    ` · last edit kept ${counts.kept} rows and pushed ${counts.pushed} · truncations ${counts.truncations}` +
    (counts.resets > 0 ? ` · restarts after eviction ${counts.resets}` : '');
}

function showError(error: unknown): void {
  status.textContent = `error: ${String(error)}`;
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
