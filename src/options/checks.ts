import net from 'node:net';

import { UsageError } from '../errors';

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
  return value;
}

/** A flag given several times, or once with commas, as one list. */
export function listOf(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((item) =>
    item
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== ''),
  );
}

/** A whole number of at least `min`. */
export function checkCount(value: unknown, flag: string, min: number): number {
  const count = Number(value);
  if (!Number.isSafeInteger(count) || count < min || String(value).trim() === '') {
    throw new UsageError(`${flag}: '${String(value)}' is not a whole number of at least ${min}`);
  }
  return count;
}
