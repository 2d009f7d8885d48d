import path from 'node:path';
import { createSecureContext } from 'node:tls';

import type * as Yaml from 'yaml';

import { UsageError } from '../errors';
import { formatDuration, MAX_TIMER_MS } from '../options/duration';
import { readRegularFile } from '../options/regular-file';
import {
  CIPHER_SUITES,
  CLIENT_AUTH_TYPES,
  ClientAuthType,
  CURVES,
  nodeTlsOptions,
  TLS_VERSIONS,
  TlsSettings,
} from './tls-options';
import { clientCaProblem } from './client-ca';
import { Fields, quote } from './yaml-fields';

/**
 * The --web.config.file of Prometheus' exporter-toolkit (the same keys, so
 * operators reuse the files they have for node_exporter): TLS, basic auth
 * with bcrypt hashes, extra response headers and a rate limit.
 */
export interface WebConfig {
  /** The file it came from, for messages. */
  file: string;
  /** Undefined: plain HTTP. */
  tls?: TlsSettings;
  /** User name -> bcrypt hash; empty: no authentication. */
  users: ReadonlyMap<string, string>;
  headers: Readonly<Record<string, string>>;
  /** One request per intervalMs on average, `burst` at once; undefined: no limit. */
  rateLimit?: { intervalMs: number; burst: number };
  /** Open connections one client address may hold (limits.max_connections_per_client, ours). */
  maxConnectionsPerClient?: number;
}

/** The TLS settings as written: PEM text inline, or file names (relative to the file's folder). */
export interface TlsSpec extends Omit<TlsSettings, 'cert' | 'key' | 'clientCa'> {
  cert: { text?: string; file?: string };
  key: { text?: string; file?: string };
  clientCa?: { text?: string; file?: string };
}

export type WebConfigSpec = Omit<WebConfig, 'tls'> & { tls?: TlsSpec };

// The headers exporter-toolkit lets a file set, and the values it accepts
// where they form a closed set.
const HEADERS: Readonly<Record<string, readonly string[] | undefined>> = {
  'Strict-Transport-Security': undefined,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': undefined,
  'Content-Security-Policy': undefined,
};
const BCRYPT_HASH = /^\$2([a-z]?)\$(\d\d)\$[./A-Za-z0-9]{53}$/;
// The bcrypt versions the checker (bcryptjs) computes; "$2x$" (PHP's
// marker for hashes made by its old broken code) could never match.
const BCRYPT_VERSIONS = ['', 'a', 'b', 'y'];
// A web config is a few lines; anything bigger is the wrong file.
const MAX_FILE_BYTES = 1 << 20;

/** Reads and checks a web config file and the PEM files it names; one UsageError per problem. */
export function loadWebConfig(file: string): WebConfig {
  const spec = parseWebConfig(readText(file, file, 'the web config file'), file);
  if (spec.tls === undefined) return { ...spec, tls: undefined };
  const pem = (source: { text?: string; file?: string }, key: string) =>
    source.text ?? readText(file, source.file ?? '', `tls_server_config.${key}`);
  const tls: TlsSettings = {
    ...spec.tls,
    cert: pem(spec.tls.cert, 'cert_file'),
    key: pem(spec.tls.key, 'key_file'),
    clientCa: spec.tls.clientCa && pem(spec.tls.clientCa, 'client_ca_file'),
  };
  const caProblem = tls.clientCa === undefined ? undefined : clientCaProblem(tls.clientCa);
  if (caProblem !== undefined) {
    throw new UsageError(
      `${file}: tls_server_config.client_ca_file: ${caProblem}; give the PEM file of the CA that signs the clients' certificates`,
    );
  }
  try {
    // Refuses a bad PEM, a key that does not match the certificate, an
    // unusable cipher or curve list: now, not at the first handshake.
    createSecureContext(nodeTlsOptions(tls));
  } catch (error) {
    throw new UsageError(
      `${file}: tls_server_config: ${(error as Error).message}; check the certificate, key and CA files`,
    );
  }
  return { ...spec, tls };
}

/** The pure part: the YAML text checked and typed; file names resolved against the file's folder. */
export function parseWebConfig(text: string, file: string): WebConfigSpec {
  let document: unknown;
  try {
    // Loaded only with a web config file: the parser is 70 modules and
    // several MB that an exporter without one would hold for nothing.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { parse: parseYaml } = require('yaml') as typeof Yaml;
    document = parseYaml(text, { mapAsMap: true, prettyErrors: false });
  } catch (error) {
    throw new UsageError(`${file} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const root = Fields.root(file, document);
  root.onlyKeys([
    'tls_server_config',
    'http_server_config',
    'basic_auth_users',
    'rate_limit',
    'limits',
  ]);
  // Not exporter-toolkit's: this exporter's own limits.
  const limits = root.child('limits');
  limits.onlyKeys(['max_connections_per_client']);
  const perClient = limits.integer('max_connections_per_client', 0);
  if (limits.keys().includes('max_connections_per_client') && perClient < 1) {
    throw limits.error('max_connections_per_client', 'must be at least 1');
  }
  const http = root.child('http_server_config');
  http.onlyKeys(['http2', 'headers']);
  // Accepted for compatibility: the exporter speaks HTTP/1.1, which every scraper does.
  http.boolean('http2', true);
  return {
    file,
    tls: parseTls(root.child('tls_server_config'), path.dirname(file)),
    users: parseUsers(root.child('basic_auth_users')),
    headers: parseHeaders(http.child('headers')),
    rateLimit: parseRateLimit(root.child('rate_limit')),
    maxConnectionsPerClient: perClient > 0 ? perClient : undefined,
  };
}

function parseTls(fields: Fields, folder: string): TlsSpec | undefined {
  fields.onlyKeys([
    ...['cert', 'key', 'client_ca', 'cert_file', 'key_file', 'client_ca_file'],
    ...['client_auth_type', 'client_allowed_sans', 'min_version', 'max_version'],
    ...['cipher_suites', 'prefer_server_cipher_suites', 'curve_preferences'],
  ]);
  const source = (inline: string, named: string) => {
    const text = fields.string(inline);
    const file = fields.string(named);
    if (text !== undefined && file !== undefined) {
      throw fields.error(named, `give either ${inline} or ${named}, not both`);
    }
    return text === undefined && file === undefined
      ? undefined
      : { text, file: file === undefined ? undefined : path.resolve(folder, file) };
  };
  const cert = source('cert', 'cert_file');
  const key = source('key', 'key_file');
  const clientCa = source('client_ca', 'client_ca_file');
  const clientAuthText = fields.string('client_auth_type');
  // As exporter-toolkit: TLS is on when any of these is set, and then complete.
  if (!cert && !key && !clientCa && clientAuthText === undefined) return undefined;
  if (!cert) throw fields.error('cert_file', 'TLS needs a certificate: set cert_file (or cert)');
  if (!key) throw fields.error('key_file', 'TLS needs a private key: set key_file (or key)');

  const clientAuth = parseClientAuth(fields, clientAuthText);
  if (clientCa && clientAuth === 'NoClientCert') {
    throw fields.error(
      'client_ca_file',
      'a client CA is set but client_auth_type is NoClientCert; set client_auth_type: RequireAndVerifyClientCert',
    );
  }
  const clientAllowedSans = fields.strings('client_allowed_sans');
  if (
    clientAllowedSans !== undefined &&
    clientAuth !== 'RequireAnyClientCert' &&
    clientAuth !== 'RequireAndVerifyClientCert'
  ) {
    throw fields.error(
      'client_allowed_sans',
      'needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert',
    );
  }
  const minVersion = parseVersion(fields, 'min_version', 'TLS12');
  const maxVersion = parseVersion(fields, 'max_version', 'TLS13');
  if (minVersion > maxVersion) {
    throw fields.error('min_version', `is above max_version (${maxVersion})`);
  }
  return {
    cert,
    key,
    clientCa,
    clientAuth,
    clientAllowedSans,
    minVersion: TLS_VERSIONS[minVersion]!,
    maxVersion: TLS_VERSIONS[maxVersion]!,
    cipherSuites: parseNames(fields, 'cipher_suites', CIPHER_SUITES, 'cipher suite'),
    preferServerCipherSuites: fields.boolean('prefer_server_cipher_suites', true),
    curvePreferences: parseNames(fields, 'curve_preferences', CURVES, 'curve'),
  };
}

function parseClientAuth(fields: Fields, text: string | undefined): ClientAuthType {
  // "RequireClientCert" is exporter-toolkit's old name, still accepted there.
  const value = text === 'RequireClientCert' ? 'RequireAnyClientCert' : (text ?? 'NoClientCert');
  const known = CLIENT_AUTH_TYPES.find(
    (type) => type === value || (value === '' && type === 'NoClientCert'),
  );
  if (known === undefined) {
    throw fields.error(
      'client_auth_type',
      `${quote(value)} is not one of ${CLIENT_AUTH_TYPES.join(', ')}`,
    );
  }
  return known;
}

/** The version's name: "TLS12". Names of equal length compare like the versions. */
function parseVersion(fields: Fields, key: string, fallback: string): string {
  const value = fields.string(key) ?? fallback;
  if (!(value in TLS_VERSIONS)) {
    throw fields.error(
      key,
      `${quote(value)} is not one of ${Object.keys(TLS_VERSIONS).join(', ')}`,
    );
  }
  return value;
}

function parseNames(
  fields: Fields,
  key: string,
  table: Readonly<Record<string, unknown>>,
  what: string,
): string[] | undefined {
  const names = fields.strings(key);
  for (const name of names ?? []) {
    if (!Object.hasOwn(table, name)) {
      throw fields.error(
        key,
        `unknown ${what} ${quote(name)}; known: ${Object.keys(table).join(', ')}`,
      );
    }
  }
  return names !== undefined && names.length > 0 ? names : undefined;
}

function parseUsers(fields: Fields): Map<string, string> {
  const users = new Map<string, string>();
  for (const user of fields.keys()) {
    const hash = fields.string(user);
    if (user.includes(':') || user === '') {
      throw fields.error(user, 'a user name cannot be empty or contain ":" in basic auth');
    }
    const [, version, cost] = (hash === undefined ? undefined : BCRYPT_HASH.exec(hash)) ?? [];
    if (version !== undefined && !BCRYPT_VERSIONS.includes(version)) {
      throw fields.error(
        user,
        `bcrypt version $2${version}$ is not supported (only $2a$, $2b$, $2y$); make a new hash with: htpasswd -nBC 10 "" | tr -d ':\\n'`,
      );
    }
    if (hash === undefined || cost === undefined || Number(cost) < 4 || Number(cost) > 31) {
      throw fields.error(
        user,
        `not a bcrypt hash; make one with: htpasswd -nBC 10 "" | tr -d ':\\n'`,
      );
    }
    users.set(user, hash);
  }
  return users;
}

function parseHeaders(fields: Fields): Record<string, string> {
  fields.onlyKeys(Object.keys(HEADERS));
  const headers: Record<string, string> = {};
  for (const name of fields.keys()) {
    const value = fields.string(name) ?? '';
    const allowed = HEADERS[name];
    if (allowed !== undefined && !allowed.includes(value)) {
      throw fields.error(name, `${quote(value)} is not one of ${allowed.join(', ')}`);
    }
    // Blank means unset, as in exporter-toolkit; a newline would split the response.
    if (/[\r\n]/.test(value)) throw fields.error(name, 'a header value cannot hold a line break');
    if (value !== '') headers[name] = value;
  }
  return headers;
}

/** The longest whole number of hours within MAX_TIMER_MS, as the duration options say it. */
const LONGEST = formatDuration(Math.floor(MAX_TIMER_MS / 3_600_000) * 3_600_000);

function parseRateLimit(fields: Fields): WebConfig['rateLimit'] {
  fields.onlyKeys(['interval', 'burst']);
  const intervalMs = fields.goDuration('interval') ?? 0;
  const burst = fields.integer('burst', 0);
  if (intervalMs === 0) return undefined;
  // The bound of every duration option: anything longer is a slip of the unit.
  if (intervalMs > MAX_TIMER_MS) {
    throw fields.error(
      'interval',
      `${formatDuration(intervalMs)} is longer than a timer can hold; give ${LONGEST} or less`,
    );
  }
  if (burst < 1) {
    throw fields.error(
      'burst',
      'must be at least 1 when an interval is set, or no request would pass',
    );
  }
  return { intervalMs, burst };
}

function readText(configFile: string, file: string, what: string): string {
  try {
    return readRegularFile(file, MAX_FILE_BYTES).toString('utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : (error as Error).message;
    throw new UsageError(
      file === configFile
        ? `cannot read ${what} ${file}: ${reason}; check --web.config.file`
        : `${configFile}: ${what}: cannot read ${file}: ${reason}`,
    );
  }
}
