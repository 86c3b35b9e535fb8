// Deterministic [0, 1) numbers for generated test cases and fault injection (mulberry32: small,
// fast, the same sequence for the same seed on every machine), so a failing case is replayed
// from the seed it prints.
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The seed named by an environment variable (to replay a run), or a fresh one; the caller prints
 * it, so any run can be replayed.
 */
export function seedFromEnv(variable: string): number {
  const given = process.env[variable];
  if (given !== undefined && given !== "") {
    if (!/^\d{1,10}$/.test(given)) throw new Error(`${variable} must be a non-negative integer (got ${given})`);
    return Number(given);
  }
  return Math.floor(Math.random() * 2 ** 31);
}
