/**
 * The pieces of the Prometheus text format (0.0.4) that the text
 * collectors write themselves, each the same as prom-client 15 writes it,
 * so that a family reads the same whichever of the two rendered it.
 */
import { GroupIndex } from '../model/group';
import { SeriesLabels } from '../model/series-mapping';

/** A collector that writes its families straight to exposition text. */
export interface TextCollector {
  /**
   * Gathers this scrape's values. Every collector of a scrape gathers at
   * once, so that all share one snapshot of the table; then each writes in
   * turn, in order, into one buffer (no copy of each part into the whole).
   * Undefined: no family this scrape (absent, not empty).
   */
  collect(): Promise<TextPart | undefined>;
}

/** What a collector gathered for one scrape, ready to write. */
export interface TextPart {
  /** About how many bytes `write` adds, so the buffer is sized once. */
  expectedBytes: number;
  /**
   * Writes one or more complete families, separated by a blank line, with
   * no trailing newline; HELP and TYPE lines even for a family without
   * samples, as prom-client writes them.
   */
  write(out: TextWriter): void;
}

export type MetricType = 'gauge' | 'counter' | 'summary' | 'histogram';

/** The HELP and TYPE lines of a family. */
export function familyHeader(name: string, help: string, type: MetricType): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}`;
}

// A sample line is about this long; a good guess saves growing the buffer.
const BYTES_PER_SAMPLE = 96;

/** About how many bytes families with this many samples in all take, headers included. */
export function expectedBytes(samples: number): number {
  return 1024 + samples * BYTES_PER_SAMPLE;
}

/** A family as a text collector writes it: what it is of, its name in UTF-8, its header. */
export interface FamilyHead<K> {
  key: K;
  name: Buffer;
  /** HELP and TYPE, after a blank line for every family but the first. */
  header: string;
}

/** The heads of the families that a collector writes one after another, one per key. */
export function familyHeads<K>(
  keys: readonly K[],
  describe: (key: K) => { name: string; help: string },
  type: MetricType,
): FamilyHead<K>[] {
  return keys.map((key, index) => {
    const { name, help } = describe(key);
    const header = familyHeader(name, help, type);
    return { key, name: Buffer.from(name), header: `${index > 0 ? '\n\n' : ''}${header}` };
  });
}

const HELP_SPECIAL = /[\\\n]/;
const LABEL_SPECIAL = /[\\\n"]/;

/** HELP text: backslash and newline escaped. */
function escapeHelp(text: string): string {
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
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

/** The label set of a group of connections, braces included, in the gauges' label order. */
function groupLabels({ host, port, direction }: SeriesLabels): string {
  return `{host="${escapeLabelValue(host)}",port="${escapeLabelValue(String(port))}",direction="${escapeLabelValue(direction)}"}`;
}

// Digits of the largest safe integer: what value() writes without growing the buffer.
const MAX_COUNT_DIGITS = 16;
const NEWLINE = 0x0a;
const SPACE = 0x20;
const ZERO = 0x30;

/** A cached label set and the scrape that last wrote it. */
interface CachedLabels {
  bytes: Buffer;
  scrape: number;
}

/**
 * The label sets of a collector's series, in UTF-8, kept from one scrape to
 * the next. A scrape writes the same ~1,000 label sets as the last one;
 * building, escaping and encoding each anew was a third of the scrape.
 * Found through a GroupIndex (the host strings come from the table, so
 * their hashes are computed once); label sets no scrape asked for are
 * dropped once they outnumber those in use, which bounds the cache at about
 * twice the series.
 */
export class LabelCache {
  private readonly index = new GroupIndex<CachedLabels>();
  private scrape = 0;
  private held = 0;
  private used = 0;

  /** Label sets held. */
  get size(): number {
    return this.held;
  }

  /** Call before each scrape's lookups. */
  startScrape(): void {
    if (this.held > 2 * this.used + 64) this.sweep();
    this.scrape++;
    this.used = 0;
  }

  /** `{host="…",port="…",direction="…"}`, braces included, in the gauges' label order. */
  get(labels: SeriesLabels): Buffer {
    return this.entry(labels).bytes;
  }

  private entry(labels: SeriesLabels): CachedLabels {
    let cached = this.index.get(labels.host, labels.port, labels.direction);
    if (cached === undefined) {
      cached = { bytes: Buffer.from(groupLabels(labels)), scrape: -1 };
      this.index.set(labels.host, labels.port, labels.direction, cached);
      this.held++;
    }
    if (cached.scrape !== this.scrape) {
      cached.scrape = this.scrape;
      this.used++;
    }
    return cached;
  }

  /** Drops the label sets the last scrape did not ask for. */
  private sweep(): void {
    this.index.retain((cached) => {
      if (cached.scrape === this.scrape) return true;
      this.held--;
      return false;
    });
  }
}

/**
 * Exposition text written as UTF-8 bytes into one growing buffer. Each
 * sample line is copied from pieces encoded once (the metric name, a label
 * set) and the digits of its value, so a scrape makes no
 * string per line: building and then encoding ~6,000 line strings took
 * four times as long, and left garbage that the collector had to sweep
 * within later scrapes.
 */
export class TextWriter {
  private buffer: Buffer;
  private length = 0;

  /** `into`: memory to write into, if it is free (see Exposition.recycle). */
  constructor(expectedBytes = 4096, into?: Buffer) {
    this.buffer = into ?? Buffer.allocUnsafe(expectedBytes);
  }

  text(text: string): void {
    this.reserve(Buffer.byteLength(text));
    this.length += this.buffer.write(text, this.length);
  }

  /**
   * `\n<name><labels> <value>`: one sample line after what is written.
   * Runs for every sample of every scrape: the position is kept in a local
   * and the buffer checked once per line.
   */
  sample(name: Uint8Array, labels: Uint8Array, value: number): void {
    this.reserve(name.length + labels.length + 2 + MAX_COUNT_DIGITS);
    const buffer = this.buffer;
    let at = this.length;
    buffer[at++] = NEWLINE;
    buffer.set(name, at);
    at += name.length;
    buffer.set(labels, at);
    at += labels.length;
    buffer[at++] = SPACE;
    this.valueAt(at, value);
  }

  /** What was written; the writer is not to be used after. */
  done(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  /** `value` written at `at`, where what is written now ends; room for MAX_COUNT_DIGITS is reserved. */
  private valueAt(at: number, value: number): void {
    // Every count a table can hold fits 31 bits, where integer division is
    // an instruction (Math.floor on a double is several).
    if ((value | 0) === value && value >= 0) {
      const buffer = this.buffer;
      let digits = 1;
      for (let rest = value; rest >= 10; rest = (rest / 10) | 0) digits++;
      at += digits;
      let rest = value;
      for (let i = 1; i <= digits; i++) {
        buffer[at - i] = ZERO + (rest % 10);
        rest = (rest / 10) | 0;
      }
      this.length = at;
      return;
    }
    this.length = at;
    this.value(value);
  }

  private value(value: number): void {
    // Counts: whole, not negative, and within the range where `${value}` gives digits.
    if (!Number.isSafeInteger(value) || value < 0) {
      this.text(formatValue(value));
      return;
    }
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    this.reserve(digits);
    let at = this.length + digits;
    let rest = value;
    do {
      this.buffer[--at] = ZERO + (rest % 10);
      rest = Math.floor(rest / 10);
    } while (rest > 0);
    this.length += digits;
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}
