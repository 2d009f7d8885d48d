/**
 * The pieces of the Prometheus text format (0.0.4) that the text
 * collectors write themselves, each the same as prom-client 15 writes it,
 * so that a family reads the same whichever of the two rendered it.
 */

/** A collector that renders its families straight to exposition text. */
export interface TextCollector {
  /**
   * Complete families, each with no trailing newline; HELP and TYPE lines
   * even for a family without samples, as prom-client writes them. Joined
   * only once, by the Exposition: each join copies the whole text.
   */
  render(): Promise<string[]>;
}

export type MetricType = 'gauge' | 'counter';

/** The HELP and TYPE lines of a family. */
export function familyHeader(name: string, help: string, type: MetricType): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}`;
}

const HELP_SPECIAL = /[\\\n]/;
const LABEL_SPECIAL = /[\\\n"]/;

/** HELP text: backslash and newline escaped. */
export function escapeHelp(text: string): string {
  if (!HELP_SPECIAL.test(text)) return text;
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A label value: backslash, newline and double quote escaped. */
export function escapeLabelValue(value: string): string {
  // Nearly every value (an address, a port, a direction) needs nothing.
  if (!LABEL_SPECIAL.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** A sample value, spelled as prom-client spells it ("Nan" included). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

/** The label set of a group of connections, braces included, in the gauges' label order. */
export function groupLabels(host: string, port: number | string, direction: string): string {
  return `{host="${escapeLabelValue(host)}",port="${escapeLabelValue(String(port))}",direction="${escapeLabelValue(direction)}"}`;
}
