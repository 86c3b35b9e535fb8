// Waits for a condition the test cannot await directly (work another part of the code does on its
// own schedule). The deadline only turns a hang into a failure that names what never happened;
// it bounds no measured time.
export async function until(what: string, cond: () => boolean, timeoutMs = 15_000, pollMs = 10): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
