/** Three significant digits, thousands separated. */
export function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  return String(Number(x.toPrecision(3)));
}

export function ratio(x: number): string {
  return `${x >= 10 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toFixed(2)}×`;
}

/** A fraction as a percentage with one decimal: 0.071 → "7.1 %". */
export function percent(x: number): string {
  return `${(x * 100).toFixed(1)} %`;
}
