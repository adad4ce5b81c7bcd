import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly platform: string;
  /** 1-minute load average when the run started and when it ended: above 0.5 means someone else was computing. */
  readonly loadStart: number;
  loadEnd: number;
  readonly date: string;
}

/** What the figures were measured on: the CPU model from /proc/cpuinfo, cores, memory, load. */
export function describeMachine(): Machine {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line !== undefined) cpu = line.split(':')[1]!.trim();
  } catch {
    // Not Linux: os.cpus() said it.
  }
  return {
    cpu,
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    platform: `${process.platform} ${process.arch}`,
    loadStart: loadavg()[0]!,
    loadEnd: loadavg()[0]!,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

/** The CPU features that decide which SIMD the C reference can use. */
export function simdFlags(): string {
  try {
    const flags = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'))
      ?.split(':')[1]
      ?.trim()
      .split(/\s+/);
    if (flags === undefined) return 'unknown';
    return ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f'].filter((f) => flags.includes(f)).join(', ');
  } catch {
    return 'unknown';
  }
}
