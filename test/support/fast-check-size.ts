import fc from 'fast-check';

// fast-check 4 draws an array no longer than 2·minLength + 10 unless told otherwise, whatever its
// maxLength: a property over "1 to 64 tokens" saw 12 at most. Every maxLength in this suite means
// what it says (a bug hunt found heaps, caches and sequences never tested past that size).
fc.configureGlobal({ defaultSizeToMaxWhenMaxSpecified: true });

/** `run`'s result under fast-check's own default sizes, as a user of the testing kit has them. */
export function withFastCheckDefaults<T>(run: () => T): T {
  const saved = fc.readConfigureGlobal();
  fc.configureGlobal({ ...saved, defaultSizeToMaxWhenMaxSpecified: false });
  try {
    return run();
  } finally {
    fc.configureGlobal(saved);
  }
}
