/**
 * Polls `check` every `intervalMs` until it holds; a check that throws
 * counts as not yet. Throws, naming `what`, after `timeoutMs`.
 */
export async function waitFor(
  check: () => Promise<boolean>,
  what: string,
  { timeoutMs = 15_000, intervalMs = 100 } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not come up in time`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
