/** Turns the measured samples into a Markdown table and the section of BENCHMARKS.md. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export type Samples = Map<string, Map<string, number[]>>;

export interface Row {
  key: string;
  label: string;
  digits: number;
  /** True where less is better (CPU, memory): the ratios read the same way either way. */
}

export function record(samples: Samples, key: string, subject: string, value: number): void {
  const bySubject = samples.get(key) ?? new Map<string, number[]>();
  samples.set(key, bySubject);
  bySubject.set(subject, [...(bySubject.get(subject) ?? []), value]);
}

export function median(values: readonly number[] | undefined): number | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[middle]
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

export function value(samples: Samples, key: string, subject: string): number | undefined {
  return median(samples.get(key)?.get(subject));
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || b === 0 ? '' : `${(a / b).toFixed(2)}x`;
}

export function table(
  samples: Samples,
  rows: readonly Row[],
  subjects: readonly string[],
  ours: string,
): string {
  const header = ['', ...subjects, `${ours} ÷ haproxy`, `${ours} ÷ direct`];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of rows) {
    const cells = subjects.map((subject) => {
      const found = value(samples, row.key, subject);
      return found === undefined ? '' : found.toFixed(row.digits);
    });
    const mine = value(samples, row.key, ours);
    lines.push(
      `| ${[
        row.label,
        ...cells,
        ratio(mine, value(samples, row.key, 'haproxy')),
        ratio(mine, value(samples, row.key, 'direct')),
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

/** Replaces (or appends) the "## Proxy" section of BENCHMARKS.md, keeping the others. */
export function writeSection(path: string, body: string): void {
  const heading = '## Proxy';
  const section = `${heading}\n\n${body.trim()}\n`;
  if (!existsSync(path)) {
    writeFileSync(path, `# Benchmarks\n\n${section}`);
    return;
  }
  const text = readFileSync(path, 'utf8');
  const start = text.search(/^## Proxy\s*$/m);
  if (start < 0) {
    writeFileSync(path, `${text.trimEnd()}\n\n${section}`);
    return;
  }
  const rest = text.slice(start + heading.length);
  const next = rest.search(/^## /m);
  const after = next < 0 ? '' : `\n${rest.slice(next)}`;
  writeFileSync(path, `${text.slice(0, start)}${section}${after}`);
}
