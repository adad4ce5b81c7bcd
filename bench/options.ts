import type { Cell } from './impls/decode-implementation.js';
import { FULL, QUICK, SMOKE } from './profile.js';
import type { Profile } from './profile.js';

export const SECTIONS = ['bandwidth', 'grid', 'stream', 'recompute', 'prefill', 'long-prompt', 'beams', 'linear', 'half-weights', 'sharpness', 'gqa', 'options', 'rx', 'memory'] as const;
export type Section = (typeof SECTIONS)[number];

/** Every implementation id, and the groups --peers also accepts. */
export const IMPLEMENTATION_IDS = ['attnstream', 'attnstream-js', 'attnstream-2t', 'plain-js', 'c-1t', 'c-2t', 'numpy', 'ort-matmul', 'ort-attention', 'tfjs-cpu', 'tfjs-wasm'] as const;
const GROUPS: Record<string, readonly string[]> = {
  all: IMPLEMENTATION_IDS,
  none: [],
  c: ['c-1t', 'c-2t'],
  ort: ['ort-matmul', 'ort-attention'],
  onnxruntime: ['ort-matmul', 'ort-attention'],
  tfjs: ['tfjs-cpu', 'tfjs-wasm'],
};

export interface BenchOptions {
  readonly profile: Profile;
  readonly sections: ReadonlySet<Section>;
  /** Implementation ids to run; attnstream always runs (it is what the others are compared with). */
  readonly implementations: ReadonlySet<string>;
  readonly outDir: string;
  readonly jsonPath: string | null;
  /** The command line, for the report. */
  readonly command: string;
  readonly quiet: boolean;
}

export const USAGE = `npm run bench -- [flags]

  --quick              a few minutes: H ∈ {1, 8}, D = 64, n ≤ 8,192
  --smoke              seconds: tiny sizes, every code path (what the test runs)
  --cells LIST         grid cells as HxDxN, * for any: --cells 8x64x1024,32x128x*
  --peers LIST         implementations besides attnstream: ids (${IMPLEMENTATION_IDS.slice(1).join(', ')})
                       or groups (c, ort, tfjs, all, none); default all
  --sections LIST      ${SECTIONS.join(', ')}; default all
  --out DIR            where performance.md and performance-steps.svg go
                       (default docs; out/bench-smoke with --smoke)
  --json FILE          also write every figure as JSON
  --quiet              no progress bar
`;

/** Parses the command line; throws an Error whose message says what was wrong. */
export function parseOptions(argv: readonly string[]): BenchOptions {
  let profile: Profile = FULL;
  let cellsFilter: string | null = null;
  let peers: string[] = [...IMPLEMENTATION_IDS];
  let sections: Section[] = [...SECTIONS];
  let outDir: string | null = null;
  let jsonPath: string | null = null;
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--quick') profile = QUICK;
    else if (flag === '--smoke') profile = SMOKE;
    else if (flag === '--cells') cellsFilter = value();
    else if (flag === '--peers') peers = parsePeers(value());
    else if (flag === '--sections') sections = parseSections(value());
    else if (flag === '--out') outDir = value();
    else if (flag === '--json') jsonPath = value();
    else if (flag === '--quiet') quiet = true;
    else throw new Error(`unknown flag ${flag}`);
  }
  if (cellsFilter !== null) profile = { ...profile, cells: filterCells(profile, cellsFilter) };
  return {
    profile,
    sections: new Set(sections),
    implementations: new Set(['attnstream', ...peers]),
    // A smoke run never overwrites the real report.
    outDir: outDir ?? (profile.name === 'smoke' ? 'out/bench-smoke' : 'docs'),
    jsonPath,
    command: commandLine(argv),
    quiet,
  };
}

/** The command as the report prints it: the flags that change what is measured, not where it is written. */
function commandLine(argv: readonly string[]): string {
  const shown: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' || argv[i] === '--json') i++;
    else if (argv[i] !== '--quiet') shown.push(argv[i]!);
  }
  if (shown.length === 1 && shown[0] === '--smoke') return 'npm run bench:smoke';
  return ['npm run bench', ...(shown.length > 0 ? ['--', ...shown] : [])].join(' ');
}

function parsePeers(list: string): string[] {
  const ids = new Set<string>();
  for (const name of list.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const group = GROUPS[name];
    if (group !== undefined) for (const id of group) ids.add(id);
    else if ((IMPLEMENTATION_IDS as readonly string[]).includes(name)) ids.add(name);
    else throw new Error(`--peers: unknown implementation ${name} (known: ${[...IMPLEMENTATION_IDS, ...Object.keys(GROUPS)].join(', ')})`);
  }
  return [...ids];
}

function parseSections(list: string): Section[] {
  return list.split(',').map((name) => {
    const s = name.trim();
    if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`--sections: unknown section ${s} (known: ${SECTIONS.join(', ')})`);
    return s as Section;
  });
}

/**
 * Cells of the grid matching `HxDxN` patterns (`*` for any), taken from the full grid so --cells
 * can name any of them; a pattern of explicit numbers outside the grid is measured too.
 */
function filterCells(profile: Profile, list: string): Cell[] {
  const base = profile.name === 'smoke' ? SMOKE.cells : FULL.cells;
  const picked: Cell[] = [];
  for (const pattern of list.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const parts = pattern.split('x');
    if (parts.length !== 3 || parts.some((p) => p !== '*' && !/^[1-9][0-9]*$/.test(p))) {
      throw new Error(`--cells: expected HxDxN with numbers or *, got ${pattern}`);
    }
    const [h, d, n] = parts.map((p) => (p === '*' ? null : Number(p)));
    const matches = base.filter((c) => (h === null || c.heads === h) && (d === null || c.headDim === d) && (n === null || c.n === n));
    if (matches.length === 0 && h !== null && d !== null && n !== null) matches.push({ heads: h!, headDim: d!, n: n! });
    for (const c of matches) if (!picked.some((p) => p.heads === c.heads && p.headDim === c.headDim && p.n === c.n)) picked.push(c);
  }
  if (picked.length === 0) throw new Error(`--cells: ${list} matches no cell`);
  return picked.sort((a, b) => a.heads * a.headDim * a.n - b.heads * b.headDim * b.n || a.n - b.n);
}
