/**
 * A weight in [0, 1] in three characters, for heatmap cells: `.35`, `.03`, `1.0`; `  0` for a
 * weight that rounds to zero.
 *
 * @example
 * ```ts
 * formatWeight(0.3512); // '.35'
 * formatWeight(0.999);  // '1.0'
 * ```
 */
export function formatWeight(weight: number): string {
  const hundredths = Math.round(weight * 100);
  if (hundredths >= 100) return '1.0';
  if (hundredths <= 0) return '  0';
  return `.${String(hundredths).padStart(2, '0')}`;
}
