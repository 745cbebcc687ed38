/**
 * A plain-text table: a header row and left-aligned columns separated by two spaces, for `cs job list`,
 * `cs job status` and `cs taskmanager list`.
 *
 * @example
 * formatTable(['ID', 'STATE'], [['a1', 'RUNNING']]) // 'ID  STATE\na1  RUNNING'
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
