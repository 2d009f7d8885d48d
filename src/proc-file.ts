import { closeSync, openSync, readSync } from 'node:fs';

/**
 * A file of /proc (or /proc/sys) read anew at each call through one
 * descriptor kept open: a read from offset 0 makes the kernel write the
 * file afresh. Opening, sizing and closing it each time (readFileSync)
 * cost three to four times the read itself, and the exporter reads several
 * such files at every scrape. Costs one descriptor per file for the life of
 * the process.
 */
export class ProcFile {
  private fd: number | undefined;
  private buffer = Buffer.allocUnsafe(4096);

  constructor(readonly path: string) {}

  /** The file's text now; throws as readFileSync would (e.g. ENOENT). */
  read(): string {
    if (this.fd !== undefined) {
      try {
        return this.readFrom(this.fd);
      } catch {
        // The file went away under the descriptor (a module unloaded, a
        // sysctl table unregistered): open it again below, once.
        this.close();
      }
    }
    const fd = openSync(this.path, 'r');
    try {
      const text = this.readFrom(fd);
      this.fd = fd;
      return text;
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  private readFrom(fd: number): string {
    for (;;) {
      const length = readSync(fd, this.buffer, 0, this.buffer.length, 0);
      if (length < this.buffer.length) return this.buffer.toString('utf8', 0, length);
      // Larger than the buffer: the kernel writes it whole again into a larger one.
      this.buffer = Buffer.allocUnsafe(this.buffer.length * 2);
    }
  }

  private close(): void {
    const { fd } = this;
    this.fd = undefined;
    if (fd !== undefined) closeSync(fd);
  }
}

const files = new Map<string, ProcFile>();

/** readFileSync(path, 'utf8') for a file of /proc read again and again (see ProcFile). */
export function readProcFile(path: string): string {
  let file = files.get(path);
  if (file === undefined) {
    file = new ProcFile(path);
    files.set(path, file);
  }
  return file.read();
}
