import { closeSync, constants, fstatSync, openSync, readSync, Stats } from 'node:fs';

/**
 * The contents of the regular file `file`, of at most `limitBytes`. Every
 * file an option names is read here, so that none can make the program
 * hang or fill its memory: a FIFO is opened without waiting for a writer
 * and refused, as are devices (/dev/zero never ends), directories and
 * sockets; the limit holds while reading, so a file that grows after the
 * size check is cut off too. Throws an Error whose message is the reason,
 * ready to follow "cannot read FILE: ".
 */
export function readRegularFile(file: string, limitBytes: number): Buffer {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    throw new Error(reasonOf(error as NodeJS.ErrnoException), { cause: error });
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new Error(`${kindOf(stats)}, not a regular file`);
    const tooLarge = () => new Error(`larger than ${limitBytes} bytes`);
    if (stats.size > limitBytes) throw tooLarge();
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      // One byte past the limit is enough to know it is exceeded.
      const chunk = Buffer.alloc(Math.min(64 * 1024, limitBytes + 1 - total));
      const read = readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) break;
      total += read;
      if (total > limitBytes) throw tooLarge();
      chunks.push(chunk.subarray(0, read));
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

function reasonOf(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENXIO':
      return 'a socket or a device without a driver, not a regular file';
    default:
      return error.message;
  }
}

/** What a file that is not a regular one is, as a user would call it. */
export function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'a special file';
}
