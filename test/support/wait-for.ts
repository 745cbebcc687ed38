/** Polls `condition` until it returns a truthy value or `maxWaitMs` passes (then throws with `what`). */
export async function waitFor<T>(condition: () => T | Promise<T>, options: { maxWaitMs?: number; intervalMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const { maxWaitMs = 10_000, intervalMs = 20, what = 'condition' } = options;
  const deadline = Date.now() + maxWaitMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${maxWaitMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A unique name for a test's streams, jobs and groups. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
