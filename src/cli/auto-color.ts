/**
 * Colour for `--color auto`: on a terminal that shows it (TERM is not 'dumb') unless NO_COLOR is
 * set to something (no-color.org: an empty value does not count); FORCE_COLOR set to something
 * other than '0' turns it on even when piped, and '0' off, as in Node.
 */
export function autoColor(tty: boolean, env: Readonly<Record<string, string | undefined>>): boolean {
  const force = env.FORCE_COLOR ?? '';
  if (force !== '') return force !== '0';
  return tty && env.TERM !== 'dumb' && (env.NO_COLOR ?? '') === '';
}
