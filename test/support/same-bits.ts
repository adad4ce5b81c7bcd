/** Whether two arrays hold the same numbers bit for bit: Object.is per element, so -0 and 0 differ and NaN equals NaN. */
export function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}
