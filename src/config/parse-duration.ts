/** Milliseconds per unit of {@link parseDuration}. */
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration such as `500ms`, `90s`, `1.5m`, `1h` or `2d` in milliseconds (rounded), or undefined when the
 * text is not one number followed by one unit. Hand-written rather than the `ms` package because that one
 * also takes `"2 hours"`, `"1y"` and a bare number, and we want one strict, documented form.
 *
 * @example
 * parseDuration('15m'); // 900000
 */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim().toLowerCase());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNIT_MS[match[2]!]!);
}

/** A duration in ms as the shortest text {@link parseDuration} reads back (`3600000` → `1h`). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) if (ms >= UNIT_MS[unit]! && ms % UNIT_MS[unit]! === 0) return `${ms / UNIT_MS[unit]!}${unit}`;
  return `${ms}ms`;
}
