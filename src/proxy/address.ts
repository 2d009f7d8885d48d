import net from 'node:net';
import { UsageError } from '../errors';

/** A TCP endpoint as the user wrote it; `host` is '' for "every interface". */
export interface HostPort {
  host: string;
  port: number;
}

export interface AddressRules {
  /** Port 0 asks the kernel for a free port: fine to listen on, never to dial. */
  allowPortZero: boolean;
  /** What an empty host (':PORT') means: '' to listen on every interface, 'localhost' to dial. */
  emptyHost: string;
}

// RFC 1123 labels, plus '_' which some service discovery names use.
const HOSTNAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/**
 * Parses 'HOST:PORT', '[IPv6]:PORT' or ':PORT' (Go's net.Listen/net.Dial
 * syntax, so addresses written for the original proxy keep working).
 */
export function parseHostPort(text: string, flag: string, rules: AddressRules): HostPort {
  const fail = (why: string): never => {
    throw new UsageError(`${flag} ${JSON.stringify(text)}: ${why}`);
  };
  const trimmed = text.trim();
  if (trimmed === '') fail('expected HOST:PORT');
  let host: string;
  let portText: string;
  if (trimmed.startsWith('[')) {
    const close = trimmed.indexOf(']');
    if (close < 0 || trimmed[close + 1] !== ':') fail('expected [IPv6]:PORT');
    host = trimmed.slice(1, close);
    portText = trimmed.slice(close + 2);
    if (net.isIPv6(host) === false) fail(`${JSON.stringify(host)} is not an IPv6 address`);
  } else {
    const colon = trimmed.lastIndexOf(':');
    if (colon < 0) fail('expected HOST:PORT (the port is missing)');
    host = trimmed.slice(0, colon);
    portText = trimmed.slice(colon + 1);
    if (host.includes(':')) fail('an IPv6 address needs brackets, as in [::1]:8080');
    if (host !== '' && !net.isIPv4(host) && !HOSTNAME.test(host)) {
      fail(`${JSON.stringify(host)} is not a valid host name or IP address`);
    }
  }
  if (!/^\d{1,5}$/.test(portText)) fail(`port ${JSON.stringify(portText)} is not a number`);
  const port = Number(portText);
  const lowest = rules.allowPortZero ? 0 : 1;
  if (port < lowest || port > 65535) fail(`port ${port} is out of range ${lowest}-65535`);
  return { host: host === '' ? rules.emptyHost : host, port };
}

/** The address as a user would type it back: IPv6 in brackets, '' as every interface. */
export function formatHostPort(address: HostPort): string {
  const host = net.isIPv6(address.host) ? `[${address.host}]` : address.host;
  return `${host}:${address.port}`;
}

export const LISTEN_RULES: AddressRules = { allowPortZero: true, emptyHost: '' };
export const TARGET_RULES: AddressRules = { allowPortZero: false, emptyHost: 'localhost' };
