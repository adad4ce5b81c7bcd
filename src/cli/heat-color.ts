// A white → yellow → orange → red → dark red ramp (ColorBrewer YlOrRd end points), shared by the
// terminal rows, the SVG and HTML files and the browser page so one weight looks the same everywhere.
const STOPS: readonly (readonly [number, number, number])[] = [
  [255, 255, 255],
  [255, 237, 160],
  [254, 178, 76],
  [240, 59, 32],
  [128, 0, 38],
];

/** Red, green, blue (0–255). */
export type Rgb = readonly [number, number, number];

/**
 * The colour of an attention weight in [0, 1]. Shade grows with √weight, not weight: a row over n
 * words has weights near 1/n, and a linear ramp would paint every long row white.
 *
 * @example
 * ```ts
 * heatRgb(0);    // [255, 255, 255]
 * heatRgb(1);    // [128, 0, 38]
 * heatCss(0.25); // 'rgb(254, 178, 76)'
 * ```
 */
export function heatRgb(weight: number): Rgb {
  const t = Math.sqrt(Math.min(1, Math.max(0, Number.isFinite(weight) ? weight : 0))) * (STOPS.length - 1);
  const low = Math.min(STOPS.length - 2, Math.floor(t));
  const f = t - low;
  const a = STOPS[low]!;
  const b = STOPS[low + 1]!;
  return [0, 1, 2].map((c) => Math.round(a[c]! + (b[c]! - a[c]!) * f)) as unknown as Rgb;
}

/** {@link heatRgb} as a CSS colour. */
export function heatCss(weight: number): string {
  const [r, g, b] = heatRgb(weight);
  return `rgb(${r}, ${g}, ${b})`;
}

/**
 * Text colour readable on {@link heatRgb}(weight): black or white, whichever contrasts more by
 * WCAG's relative luminance, at least 4.58:1 over the whole ramp (a luma threshold put white on
 * the orange of weight 0.43, at 3.0:1).
 */
export function inkCss(weight: number): string {
  const [r, g, b] = heatRgb(weight);
  const luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  // Contrast with black, (L + 0.05) / 0.05, against contrast with white, 1.05 / (L + 0.05).
  return (luminance + 0.05) ** 2 >= 0.0525 ? '#000' : '#fff';
}

/** An sRGB channel (0–255) as linear light (0–1), as WCAG's relative luminance takes it. */
function linear(channel: number): number {
  const s = channel / 255;
  return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
}
