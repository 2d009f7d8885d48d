import type { SecureVersion, TLSSocket, TlsOptions } from 'node:tls';

import { canonicalIp } from '../model/ip';

/**
 * exporter-toolkit's TLS settings, in its (Go crypto/tls) vocabulary, and
 * their translation to Node's TLS options, so that a web config file written
 * for node_exporter means the same here.
 */

export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

export const TLS_VERSIONS: Readonly<Record<string, SecureVersion>> = {
  TLS10: 'TLSv1',
  TLS11: 'TLSv1.1',
  TLS12: 'TLSv1.2',
  TLS13: 'TLSv1.3',
};

// Go's names of the suites crypto/tls offers (tls.CipherSuites()) and
// OpenSSL's names for them. Go applies cipher_suites to TLS 1.2 and below
// only; its TLS 1.3 suites are always on, so they map to nothing here.
export const CIPHER_SUITES: Readonly<Record<string, string | null>> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_AES_128_GCM_SHA256: null,
  TLS_AES_256_GCM_SHA384: null,
  TLS_CHACHA20_POLY1305_SHA256: null,
};
// Named explicitly: giving Node only TLS 1.2 names would switch TLS 1.3 off.
const TLS13_SUITES = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256';

export const CURVES: Readonly<Record<string, string>> = {
  CurveP256: 'P-256',
  CurveP384: 'P-384',
  CurveP521: 'P-521',
  X25519: 'X25519',
};

/** The TLS part of a web config with its PEM files already read. */
export interface TlsSettings {
  cert: string;
  key: string;
  clientCa?: string;
  clientAuth: ClientAuthType;
  minVersion: SecureVersion;
  maxVersion: SecureVersion;
  /** Go names; undefined: OpenSSL's defaults. */
  cipherSuites?: readonly string[];
  preferServerCipherSuites: boolean;
  /** Go names; undefined: OpenSSL's defaults. */
  curvePreferences?: readonly string[];
  clientAllowedSans?: readonly string[];
}

/** Options for https.createServer() and setSecureContext(). */
export function nodeTlsOptions(settings: TlsSettings): TlsOptions {
  const ciphers = settings.cipherSuites
    ?.map((name) => CIPHER_SUITES[name])
    .filter((name): name is string => typeof name === 'string');
  return {
    cert: settings.cert,
    key: settings.key,
    ca: settings.clientCa,
    minVersion: settings.minVersion,
    maxVersion: settings.maxVersion,
    ciphers: ciphers && ciphers.length > 0 ? `${TLS13_SUITES}:${ciphers.join(':')}` : undefined,
    honorCipherOrder: settings.preferServerCipherSuites,
    ecdhCurve: settings.curvePreferences?.map((name) => CURVES[name]).join(':'),
    requestCert: settings.clientAuth !== 'NoClientCert',
    // Only this policy can be enforced in the handshake; the others accept
    // a certificate the CA did not sign, and are checked after it.
    rejectUnauthorized: settings.clientAuth === 'RequireAndVerifyClientCert',
  };
}

/**
 * Why a client that completed the handshake must be turned away, or
 * undefined to let it in: the policies Node's handshake does not enforce
 * (a certificate required but unverified, verified only if given) and the
 * allowed subject alternative names.
 */
export function clientCertificateProblem(
  socket: TLSSocket,
  settings: TlsSettings,
): string | undefined {
  const certificate = socket.getPeerCertificate();
  const presented = certificate !== null && Object.keys(certificate).length > 0;
  switch (settings.clientAuth) {
    case 'RequireAnyClientCert':
      if (!presented) return 'no client certificate';
      break;
    case 'VerifyClientCertIfGiven':
      if (presented && !socket.authorized) {
        return `client certificate not trusted: ${String(socket.authorizationError)}`;
      }
      break;
    default:
      break;
  }
  if (settings.clientAllowedSans !== undefined) {
    if (!presented) return 'no client certificate to match client_allowed_sans';
    const names = subjectAltNames(certificate.subjectaltname ?? '');
    if (!names.some((name) => settings.clientAllowedSans?.includes(name))) {
      return `client certificate names (${names.join(', ') || 'none'}) are not in client_allowed_sans`;
    }
  }
  return undefined;
}

/**
 * The values of Node's subjectaltname string ("DNS:a.example, IP
 * Address:192.0.2.1, URI:spiffe://x"); values holding a comma are quoted
 * as JSON strings.
 */
export function subjectAltNames(text: string): string[] {
  const names: string[] = [];
  const entry = /(DNS|IP Address|email|URI|[A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/gy;
  for (let match = entry.exec(text); match !== null && match[0] !== ''; match = entry.exec(text)) {
    const raw = match[2] ?? '';
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    // Go compares IP addresses in their canonical form; Node prints IPv6 in full.
    names.push(match[1] === 'IP Address' ? (canonicalIp(value) ?? value) : value);
  }
  return names;
}
