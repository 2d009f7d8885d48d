import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'node:test';

import { UsageError } from '../../src/errors';
import { nodeTlsOptions, subjectAltNames } from '../../src/http/tls-options';
import { loadWebConfig, parseWebConfig } from '../../src/http/web-config';
import { makeCertificates } from '../helpers/certificates';

// bcrypt of "secret" at cost 4, the least bcrypt allows: fast tests.
const HASH = '$2y$04$Lb.KX50/LgeSdjonXHCqS.RJNe99N4a5I8SGRqObtexoEJyBaBA66';

function refused(text: string, message: RegExp): void {
  assert.throws(
    () => parseWebConfig(text, '/etc/web.yml'),
    (error: unknown) =>
      error instanceof UsageError &&
      !error.message.includes('\n') &&
      error.message.startsWith('/etc/web.yml') &&
      message.test(error.message),
    text,
  );
}

test('an empty file: plain HTTP, no users, no headers', () => {
  const config = parseWebConfig('', '/etc/web.yml');
  assert.equal(config.tls, undefined);
  assert.equal(config.users.size, 0);
  assert.deepEqual(config.headers, {});
  assert.equal(config.rateLimit, undefined);
});

test('exporter-toolkit keys: TLS files relative to the file, users, headers, rate limit', () => {
  const config = parseWebConfig(
    [
      'tls_server_config:',
      '  cert_file: certs/server.crt',
      '  key_file: /abs/server.key',
      '  client_auth_type: RequireAndVerifyClientCert',
      '  client_ca_file: ca.crt',
      '  client_allowed_sans: [scraper.example]',
      '  min_version: TLS13',
      '  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]',
      '  curve_preferences: [X25519, CurveP256]',
      '  prefer_server_cipher_suites: false',
      'http_server_config:',
      '  http2: false',
      '  headers:',
      '    X-Frame-Options: deny',
      '    Strict-Transport-Security: max-age=31536000',
      '    Content-Security-Policy: ""',
      'basic_auth_users:',
      `  prometheus: ${HASH}`,
      `  1234: ${HASH}`,
      'rate_limit:',
      '  interval: 1m30s',
      '  burst: 5',
    ].join('\n'),
    '/etc/exporter/web.yml',
  );
  const tls = config.tls;
  assert.ok(tls);
  assert.deepEqual(tls.cert, { text: undefined, file: '/etc/exporter/certs/server.crt' });
  assert.deepEqual(tls.key, { text: undefined, file: '/abs/server.key' });
  assert.deepEqual(tls.clientCa, { text: undefined, file: '/etc/exporter/ca.crt' });
  assert.equal(tls.clientAuth, 'RequireAndVerifyClientCert');
  assert.deepEqual(tls.clientAllowedSans, ['scraper.example']);
  assert.equal(tls.minVersion, 'TLSv1.3');
  assert.equal(tls.maxVersion, 'TLSv1.3');
  assert.equal(tls.preferServerCipherSuites, false);
  assert.deepEqual([...config.users.keys()], ['prometheus', '1234']);
  assert.deepEqual(config.headers, {
    'X-Frame-Options': 'deny',
    'Strict-Transport-Security': 'max-age=31536000',
  });
  assert.deepEqual(config.rateLimit, { intervalMs: 90_000, burst: 5 });

  const options = nodeTlsOptions({ ...tls, cert: 'C', key: 'K', clientCa: 'CA' });
  // TLS 1.3 suites stay on (Go never lets cipher_suites touch them).
  assert.match(String(options.ciphers), /^TLS_AES_256_GCM_SHA384:.*:ECDHE-RSA-AES128-GCM-SHA256$/);
  assert.equal(options.ecdhCurve, 'X25519:P-256');
  assert.equal(options.honorCipherOrder, false);
  assert.equal(options.requestCert, true);
  assert.equal(options.rejectUnauthorized, true);
});

test('every mistake is refused in one line naming the key', () => {
  const tls = 'tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n';
  const cases: [string, RegExp][] = [
    [
      'tls_server_confg: {}',
      /unknown key 'tls_server_confg' in the file; known keys: tls_server_config/,
    ],
    [`${tls}  min_verison: TLS12`, /unknown key 'tls_server_config\.min_verison'/],
    [`${tls}  min_version: TLS14`, /tls_server_config\.min_version: 'TLS14' is not one of TLS10/],
    [`${tls}  min_version: TLS13\n  max_version: TLS12`, /min_version: is above max_version/],
    ['tls_server_config:\n  cert_file: a.crt', /key_file: TLS needs a private key/],
    [
      'tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert',
      /cert_file: TLS needs a certificate/,
    ],
    [`${tls}  cert: inline`, /give either cert or cert_file, not both/],
    [`${tls}  client_ca_file: ca.crt`, /client CA is set but client_auth_type is NoClientCert/],
    [`${tls}  client_auth_type: Maybe`, /client_auth_type: 'Maybe' is not one of NoClientCert/],
    [
      `${tls}  client_auth_type: VerifyClientCertIfGiven\n  client_allowed_sans: [a]`,
      /client_allowed_sans: needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert/,
    ],
    [
      `${tls}  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]`,
      /unknown cipher suite 'TLS_RSA_WITH_RC4_128_SHA'/,
    ],
    [`${tls}  curve_preferences: [P256]`, /unknown curve 'P256'/],
    [`${tls}  cipher_suites: TLS_AES_128_GCM_SHA256`, /cipher_suites: expected a list of strings/],
    [`${tls}  prefer_server_cipher_suites: "yes"`, /expected true or false/],
    [
      'basic_auth_users:\n  alice: secret',
      /basic_auth_users\.alice: not a bcrypt hash; make one with: htpasswd/,
    ],
    [`basic_auth_users:\n  "a:b": ${HASH}`, /cannot be empty or contain ":"/],
    ['basic_auth_users:\n  alice: 12', /basic_auth_users\.alice: expected a string/],
    ['basic_auth_users: [alice]', /basic_auth_users must be a mapping/],
    [
      'http_server_config:\n  headers:\n    Server: x',
      /unknown key 'http_server_config\.headers\.Server'/,
    ],
    [
      'http_server_config:\n  headers:\n    X-Frame-Options: allow',
      /'allow' is not one of deny, sameorigin/,
    ],
    ['rate_limit:\n  interval: 1s', /rate_limit\.burst: must be at least 1/],
    [
      'rate_limit:\n  interval: soon\n  burst: 1',
      /rate_limit\.interval: string "soon" is not a duration/,
    ],
    ['rate_limit:\n  interval: 1s\n  burst: 1.5', /expected a whole number/],
    [
      'rate_limit:\n  interval: 597h\n  burst: 1',
      /^\/etc\/web\.yml: rate_limit\.interval: 597h is longer than a timer can hold; give 596h or less$/,
    ],
    ['- a list', /the file must be a mapping/],
    ['key: [unclosed', /is not valid YAML/],
    ['a: 1\na: 2', /is not valid YAML/],
    [`${tls}  client_auth_type: "x\\ny"`, /client_auth_type: 'x\\x0ay' is not one of/],
    ['"bad\\nkey": 1', /unknown key 'bad\\x0akey' in the file/],
  ];
  for (const [text, message] of cases) refused(text, message);
});

test('durations and switches as Go writes them', () => {
  const limit = (interval: string) =>
    parseWebConfig(`rate_limit:\n  interval: ${interval}\n  burst: 1`, 'w.yml').rateLimit;
  assert.deepEqual(limit('250ms'), { intervalMs: 250, burst: 1 });
  assert.deepEqual(limit('1h1m1.5s'), { intervalMs: 3_661_500, burst: 1 });
  assert.deepEqual(limit('596h'), { intervalMs: 596 * 3_600_000, burst: 1 }, 'the longest');
  assert.deepEqual(limit('1000000000'), { intervalMs: 1000, burst: 1 }, 'a number is nanoseconds');
  assert.equal(limit('0'), undefined, 'zero switches the limit off');
  const old = parseWebConfig(
    'tls_server_config:\n  cert: x\n  key: y\n  client_auth_type: RequireClientCert',
    'w.yml',
  );
  assert.equal(old.tls?.clientAuth, 'RequireAnyClientCert', "exporter-toolkit's old name");
});

test('loading reads the PEM files and refuses a key that does not fit the certificate', async (t) => {
  const certs = await makeCertificates();
  t.after(() => certs.remove());
  const file = path.join(certs.dir, 'web.yml');
  await writeFile(
    file,
    'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n' +
      '  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n',
  );
  const config = loadWebConfig(file);
  assert.equal(config.tls?.cert, certs.server.cert);
  assert.equal(config.tls?.key, certs.server.key);
  assert.equal(config.tls?.clientCa, certs.ca);

  await writeFile(file, 'tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n');
  assert.throws(
    () => loadWebConfig(file),
    (error: unknown) =>
      error instanceof UsageError &&
      error.message.startsWith(`${file}: tls_server_config: `) &&
      /check the certificate, key and CA files$/.test(error.message),
  );
  await writeFile(file, 'tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n');
  assert.throws(() => loadWebConfig(file), /tls_server_config: /);
});

test('a missing or unreadable file is one line naming it', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'web-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  assert.throws(
    () => loadWebConfig(path.join(dir, 'none.yml')),
    new UsageError(
      `cannot read the web config file ${path.join(dir, 'none.yml')}: no such file; check --web.config.file`,
    ),
  );
  const file = path.join(dir, 'web.yml');
  await writeFile(file, 'tls_server_config:\n  cert_file: gone.crt\n  key_file: gone.key\n');
  assert.throws(
    () => loadWebConfig(file),
    new UsageError(
      `${file}: tls_server_config.cert_file: cannot read ${path.join(dir, 'gone.crt')}: no such file`,
    ),
  );
});

test('subject alternative names as Node prints them, IPs canonical as Go compares them', () => {
  assert.deepEqual(
    subjectAltNames(
      'DNS:scraper.example, IP Address:2001:DB8:0:0:0:0:0:1, email:a@example.org, URI:spiffe://x/y, DNS:"a, b"',
    ),
    ['scraper.example', '2001:db8::1', 'a@example.org', 'spiffe://x/y', 'a, b'],
  );
  assert.deepEqual(subjectAltNames(''), []);
});

test('a bcrypt hash of a version bcrypt cannot check is refused, naming the version', () => {
  refused(
    `basic_auth_users:\n  alice: ${HASH.replace('$2y$', '$2x$')}\n`,
    /basic_auth_users\.alice.*bcrypt version \$2x\$ is not supported \(only \$2a\$, \$2b\$, \$2y\$\)/,
  );
  for (const version of ['$2a$', '$2b$', '$2y$']) {
    const users = parseWebConfig(
      `basic_auth_users:\n  a: ${HASH.replace('$2y$', version)}\n`,
      'f',
    ).users;
    assert.equal(users.size, 1);
  }
});

test('a client_ca_file with no certificate in it is refused at load', async (t) => {
  const certs = await makeCertificates();
  t.after(() => certs.remove());
  const file = path.join(certs.dir, 'web.yml');
  const config = (ca: string) =>
    'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n' +
    `  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${ca}\n`;
  await writeFile(path.join(certs.dir, 'garbage.pem'), 'not a certificate at all\n');
  await writeFile(
    path.join(certs.dir, 'broken.pem'),
    '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
  );
  for (const [ca, reason] of [
    ['garbage.pem', /holds no PEM certificate/],
    ['broken.pem', /certificate 1 cannot be read/],
  ] as const) {
    await writeFile(file, config(ca));
    assert.throws(
      () => loadWebConfig(file),
      (error: unknown) =>
        error instanceof UsageError &&
        !error.message.includes('\n') &&
        error.message.startsWith(`${file}: tls_server_config.client_ca_file: `) &&
        reason.test(error.message),
    );
  }
  await writeFile(file, config('ca.crt'));
  assert.equal(loadWebConfig(file).tls?.clientCa, certs.ca);
});
