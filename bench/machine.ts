import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

export interface Machine {
  readonly cpu: string;
  /** Last-level cache: the highest level sysfs lists for cpu 0, e.g. "32768 KB", else /proc/cpuinfo's "cache size". */
  readonly cache: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly platform: string;
  /** 1-minute load average when the run started and when it ended: above 0.5 means someone else was computing. */
  readonly loadStart: number;
  loadEnd: number;
  /**
   * Share of the cores' time during the run that the hypervisor gave to other guests ("steal" in
   * /proc/stat), or null where that is not known: unlike the load average, which counts the
   * bench's own threads, this is only other work.
   */
  steal: number | null;
  readonly date: string;
}

/** What the figures were measured on: the CPU model and cache from /proc/cpuinfo, cores, memory, load. */
export function describeMachine(): Machine {
  return {
    cpu: cpuInfo('model name') ?? cpus()[0]?.model ?? 'unknown',
    cache: lastLevelCache() ?? cpuInfo('cache size') ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    platform: `${process.platform} ${process.arch}`,
    loadStart: loadavg()[0]!,
    loadEnd: loadavg()[0]!,
    steal: null,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

/**
 * The size of the highest cache level sysfs lists for cpu 0 ("32768K" → "32768 KB"), or null. AMD's
 * /proc/cpuinfo "cache size" is the L2 (1 MB on an EPYC whose L3 holds 32 MB).
 */
function lastLevelCache(): string | null {
  try {
    const dir = '/sys/devices/system/cpu/cpu0/cache';
    let best: { level: number; size: string } | null = null;
    for (const index of readdirSync(dir).filter((name) => name.startsWith('index'))) {
      const level = Number(readFileSync(`${dir}/${index}/level`, 'utf8'));
      const size = readFileSync(`${dir}/${index}/size`, 'utf8').trim();
      if (best === null || level > best.level) best = { level, size };
    }
    return best === null ? null : best.size.replace(/^(\d+)K$/, '$1 KB');
  } catch {
    return null;
  }
}

/** The "cpu" line of /proc/stat, all cores: total and stolen time in clock ticks; null off Linux. */
export interface CpuTimes {
  readonly total: number;
  readonly steal: number;
}

export function cpuTimes(): CpuTimes | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    if (fields[0] !== 'cpu' || fields.length < 9) return null;
    // user nice system idle iowait irq softirq steal [guest guest_nice, already inside user and nice]
    const ticks = fields.slice(1, 9).map(Number);
    return { total: ticks.reduce((a, b) => a + b, 0), steal: ticks[7]! };
  } catch {
    return null;
  }
}

/** The share of the time between two readings that was stolen, or null. */
export function stealShare(start: CpuTimes | null, end: CpuTimes | null): number | null {
  if (start === null || end === null || end.total <= start.total) return null;
  return (end.steal - start.steal) / (end.total - start.total);
}

/** The CPU features that decide which SIMD the C reference can use. */
export function simdFlags(): string {
  const flags = cpuInfo('flags')?.split(/\s+/);
  if (flags === undefined) return 'unknown';
  return ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f'].filter((f) => flags.includes(f)).join(', ');
}

/** The first `key : value` of /proc/cpuinfo, or null (not Linux, or no such key). */
function cpuInfo(key: string): string | null {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(key));
    return line === undefined ? null : line.slice(line.indexOf(':') + 1).trim();
  } catch {
    return null;
  }
}
