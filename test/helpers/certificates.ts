/**
 * Throwaway X.509 material made with the openssl CLI for the TLS tests: a
 * CA, a server certificate for 127.0.0.1/localhost, a client certificate it
 * signed, and a client certificate from another CA that nobody trusts.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface KeyPair {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface TestCertificates {
  dir: string;
  caFile: string;
  ca: string;
  server: KeyPair;
  /** Signed by the CA; subjectAltName DNS:scraper.example. */
  client: KeyPair;
  /** Self-signed: no CA vouches for it. */
  rogueClient: KeyPair;
  remove(): Promise<void>;
}

// EC keys: made in milliseconds, unlike RSA.
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export async function makeCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(path.join(tmpdir(), 'conntrack-exporter-tls-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (args: string[]) => run('openssl', args, { cwd: dir });
  try {
    await openssl(
      ['req', '-x509', ...NEW_KEY, '-keyout', 'ca.key', '-out', 'ca.crt'].concat([
        '-days',
        '2',
        '-subj',
        '/CN=conntrack-exporter test CA',
      ]),
    );
    const signed = async (name: string, subject: string, san: string): Promise<KeyPair> => {
      await writeFile(file(`${name}.ext`), `subjectAltName=${san}\n`);
      await openssl(
        ['req', ...NEW_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`].concat([
          '-subj',
          subject,
        ]),
      );
      await openssl(
        ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key'].concat([
          '-CAcreateserial',
          '-days',
          '2',
          '-out',
          `${name}.crt`,
          '-extfile',
          `${name}.ext`,
        ]),
      );
      return pair(name);
    };
    const pair = async (name: string): Promise<KeyPair> => ({
      certFile: file(`${name}.crt`),
      keyFile: file(`${name}.key`),
      cert: await readFile(file(`${name}.crt`), 'utf8'),
      key: await readFile(file(`${name}.key`), 'utf8'),
    });
    const server = await signed('server', '/CN=localhost', 'IP:127.0.0.1,DNS:localhost');
    const client = await signed('client', '/CN=scraper', 'DNS:scraper.example');
    await openssl(
      ['req', '-x509', ...NEW_KEY, '-keyout', 'rogue.key', '-out', 'rogue.crt'].concat([
        '-days',
        '2',
        '-subj',
        '/CN=rogue',
        '-addext',
        'subjectAltName=DNS:scraper.example',
      ]),
    );
    return {
      dir,
      caFile: file('ca.crt'),
      ca: await readFile(file('ca.crt'), 'utf8'),
      server,
      client,
      rogueClient: await pair('rogue'),
      remove: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The web config lines that serve TLS with the server certificate (paths relative to the config). */
export const TLS_WEB_CONFIG: readonly string[] = [
  'tls_server_config:',
  '  cert_file: server.crt',
  '  key_file: server.key',
];

export interface WebConfigFile {
  certs: TestCertificates;
  /** web.yml beside the certificates, so that it names them by relative paths. */
  file: string;
  /** Writes the file anew. */
  write(lines: readonly string[]): Promise<void>;
}

/** Certificates for one test, removed after it, and a web config file beside them written with `lines`. */
export async function webConfigBesideCertificates(
  t: TestContext,
  lines: readonly string[],
): Promise<WebConfigFile> {
  const certs = await makeCertificates();
  t.after(() => certs.remove());
  const file = path.join(certs.dir, 'web.yml');
  const write = (text: readonly string[]) => writeFile(file, `${text.join('\n')}\n`);
  await write(lines);
  return { certs, file, write };
}
