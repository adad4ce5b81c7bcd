/**
 * What a thread of a thread pool runs a posted step with: the kernels it calls the WebAssembly
 * module's exports through (its own instance on a worker, the arena's on the calling thread).
 */
export interface ShareKernels {
  readonly attend: (job: number, i0: number, i1: number) => number;
  readonly project: (out: number, x: number, w: number, n: number, rows: number, cols: number) => void;
  /** `project` over a bfloat16 matrix (the module's export of that name). */
  readonly project_bf16: (out: number, x: number, w: number, n: number, rows: number, cols: number) => void;
  /** `project` over a binary16 matrix (the module's export of that name). */
  readonly project_f16: (out: number, x: number, w: number, n: number, rows: number, cols: number) => void;
}

/**
 * The step region of a pool's control buffer (Int32 offsets from its start), which the calling
 * thread writes before it posts a step and every thread that joins the step reads. `drainShares`
 * spells these offsets as literals (it may refer to nothing outside itself: see there); these
 * names are for the code that writes them.
 */
export const STEP_OP = 0;
export const STEP_PARTS = 1;
export const STEP_UNITS = 2;
export const STEP_CHUNK = 3;
export const STEP_BACKWARD = 4;
/** The op's arguments: `attend`'s job and first item; `project`'s (and its 16-bit twins') out, x, w, n, rows, cols. */
export const STEP_ARGS = 5;
/** One word per share from here: its unclaimed chunks [lo, hi) as lo | hi << 16. */
export const STEP_WORDS = 16;
export const OP_ATTEND = 0;
export const OP_PROJECT = 1;
export const OP_PROJECT_BF16 = 2;
export const OP_PROJECT_F16 = 3;

/**
 * Runs chunks of the step posted in `control`'s step region (at `step`) until none is left
 * unclaimed, and returns the lowest head among those it ran whose scores overflowed, or -1.
 *
 * The step's units (`attend`: its items, a head over a stretch of its keys; `project`: groups of
 * four tokens, or of four rows for a single token) lie in `parts` contiguous shares, share k
 * `[round(k·units / parts), round((k + 1)·units / parts))`, each cut into chunks of `chunk` units
 * numbered in the step's direction (from the share's last unit down when it runs backward, as the
 * `attend` kernel does then). Thread `me` takes the chunks of share `me` from the front, then those
 * of every other share from the back, each claimed by a compare-and-swap on its share's word, so
 * every chunk runs exactly once, whoever runs it. A thread that is late, or descheduled half-way,
 * leaves the chunks it has not claimed to the others instead of holding up the step; each thread
 * mostly runs its own share, in order, over the keys its core read in the step before. Which
 * thread ran a chunk changes no number: each unit writes its own results.
 *
 * The pool's workers run this very function (WORKER_LOOP_SOURCE embeds its source text), so it
 * refers to nothing outside itself: the step region's offsets (`STEP_*` above) are literals here.
 */
export function drainShares(kernels: ShareKernels, control: Int32Array, step: number, me: number): number {
  const op = control[step]!;
  const attend = op === 0;
  const project = op === 2 ? kernels.project_bf16 : op === 3 ? kernels.project_f16 : kernels.project;
  // Bytes a weight: a single token's rows of W start this far apart times cols.
  const wide = op === 1 ? 4 : 2;
  const parts = control[step + 1]!;
  const units = control[step + 2]!;
  const chunk = control[step + 3]!;
  const backward = control[step + 4] !== 0;
  // attend: the job, the item its unit 0 is; project: out, x, w, n, rows, cols (byte offsets and sizes)
  const a0 = control[step + 5]!;
  const a1 = control[step + 6]!;
  const a2 = control[step + 7]!;
  const n = control[step + 8]!;
  const rows = control[step + 9]!;
  const cols = control[step + 10]!;
  let bad = -1;
  for (let j = 0; j < parts; j++) {
    const k = (me + j) % parts;
    const start = Math.round((k * units) / parts);
    const end = Math.round(((k + 1) * units) / parts);
    for (;;) {
      const word = Atomics.load(control, step + 16 + k);
      const lo = word & 0xffff;
      const hi = word >>> 16;
      if (lo >= hi) break;
      if (Atomics.compareExchange(control, step + 16 + k, word, j === 0 ? word + 1 : word - 0x10000) !== word) continue;
      const c = j === 0 ? lo : hi - 1;
      const u0 = backward ? Math.max(start, end - (c + 1) * chunk) : start + c * chunk;
      const u1 = backward ? end - c * chunk : Math.min(end, start + (c + 1) * chunk);
      if (attend) {
        const result = kernels.attend(a0, a1 + u0, a1 + u1);
        if (result >= 0 && (bad < 0 || result < bad)) bad = result;
      } else {
        // Several tokens go by groups of four tokens, a single token by groups of four rows of W.
        const from = 4 * u0;
        const to = Math.min(n > 1 ? n : rows, 4 * u1);
        if (n > 1) project(a0 + 4 * from * rows, a1 + 4 * from * cols, a2, to - from, rows, cols);
        else project(a0 + 4 * from, a1, a2 + wide * from * cols, 1, to - from, cols);
      }
    }
  }
  return bad;
}
