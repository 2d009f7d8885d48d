import { statfsSync, statSync } from 'node:fs';
import net from 'node:net';

import { EnvironmentError, UsageError } from '../errors';
import { kindOf } from './regular-file';

/** Validators shared by every command's options; each throws one clear UsageError. */

export function checkPort(value: unknown, flag: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`${flag}: '${String(value)}' is not a port number; use 1 to 65535`);
  }
  return port;
}

export function checkBindAddress(value: string, flag: string): string {
  const address = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  if (net.isIP(address) === 0) {
    throw new UsageError(
      `${flag}: '${value}' is not an IP address; use e.g. 0.0.0.0 (all IPv4), :: (all IPv4 and IPv6) or 127.0.0.1`,
    );
  }
  return address;
}

export function checkPath(value: string, flag: string): string {
  if (!value.startsWith('/') || value === '/' || /[\s?#]/.test(value)) {
    throw new UsageError(`${flag}: '${value}' is not a usable URL path; use e.g. /metrics`);
  }
  // The server compares the path as a client sends it, and a client
  // percent-encodes every other character: /métrics would never match.
  const unsent = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]|%(?![0-9A-Fa-f]{2})/.exec(value);
  if (unsent) {
    throw new UsageError(
      `${flag}: '${value}' is not a usable URL path: clients send '${unsent[0]}' percent-encoded, ` +
        "so it would never match; use ASCII letters, digits and - . _ ~ / ! $ & ' ( ) * + , ; = : @, e.g. /metrics",
    );
  }
  return value;
}

/**
 * A flag given several times, or once with commas or spaces (the C++
 * conntrack_exporter took both), as one list.
 */
export function listOf(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((item) =>
    item
      .split(/[\s,]+/)
      .map((part) => part.trim())
      .filter((part) => part !== ''),
  );
}

/** One of `choices`, as given. */
export function checkChoice<T extends string>(
  value: string,
  flag: string,
  choices: readonly T[],
): T {
  const choice = choices.find((item) => item === value);
  if (choice === undefined) {
    throw new UsageError(`${flag}: '${value}' is not one of ${choices.join(', ')}`);
  }
  return choice;
}

/** A whole number of at least `min`. */
export function checkCount(value: unknown, flag: string, min: number): number {
  const count = Number(value);
  if (!Number.isSafeInteger(count) || count < min || String(value).trim() === '') {
    throw new UsageError(`${flag}: '${String(value)}' is not a whole number of at least ${min}`);
  }
  return count;
}

/** statfs(2)'s f_type of the namespace file system (NSFS_MAGIC, linux/magic.h). */
const NSFS_MAGIC = 0x6e736673;

/**
 * Refuses a --netns path that is no namespace file before anything opens
 * it: opening a FIFO would wait for a writer for ever. Whether it is a
 * *network* namespace is for setns(2) to say.
 */
export function checkNamespaceFile(file: string, flag: string): string {
  let reason: string | undefined;
  try {
    if (statfsSync(file).type !== NSFS_MAGIC) {
      const stats = statSync(file);
      reason = stats.isFile()
        ? 'not a network namespace'
        : `${kindOf(stats)}, not a network namespace`;
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    reason = code === 'ENOENT' ? 'no such file' : (error as Error).message;
  }
  if (reason !== undefined) {
    throw new EnvironmentError(
      `${flag}: cannot watch ${file}: ${reason}; give /var/run/netns/NAME or /proc/PID/ns/net`,
    );
  }
  return file;
}
