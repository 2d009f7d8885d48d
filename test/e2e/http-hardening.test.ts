/**
 * The built exporter's endpoint under abuse and with a web config, as an
 * operator would run it: idle and slowloris connections with parallel
 * scrapes, TLS with a certificate made here, basic auth, SIGHUP reloads.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import test from 'node:test';

import bcrypt from 'bcryptjs';

import { TLS_WEB_CONFIG, webConfigBesideCertificates } from '../helpers/certificates';
import { CLI, startExporter } from '../helpers/exporter';
import { createNamespace, waitFor } from '../helpers/netns';

const LOAD = path.join(__dirname, '..', 'helpers', 'http-load.ts');

function rssBytes(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

test('500 idle and slowloris connections, 50 parallel scrapes: served, bounded, dropped', async (t) => {
  const ns = await createNamespace(t);
  const exporter = await startExporter(ns, ['--no-resolve-hosts']);
  const pid = exporter.process.pid!;
  await exporter.scrape();
  const rssBefore = rssBytes(pid);

  const load = ns.spawn([
    process.execPath,
    '--import',
    'tsx',
    LOAD,
    '127.0.0.1',
    '9318',
    '500',
    '50',
    '3',
  ]);
  const phases = new Map<string, Record<string, unknown>>();
  const lines = createInterface({ input: load.stdout! });
  let rssWhileHeld = 0;
  const finished = new Promise<void>((resolve) => {
    lines.on('line', (line) => {
      const phase = JSON.parse(line) as Record<string, unknown>;
      phases.set(String(phase.phase), phase);
      if (phase.phase === 'scraped') rssWhileHeld = rssBytes(pid);
      if (phase.phase === 'dropped') resolve();
    });
  });
  await finished;

  t.diagnostic(
    `RSS ${(rssBefore / 2 ** 20).toFixed(1)} MiB before, ${(rssWhileHeld / 2 ** 20).toFixed(1)} MiB ` +
      `while held; idle connections dropped after ${String(phases.get('dropped')?.seconds)} s`,
  );
  assert.deepEqual(phases.get('scraped'), {
    phase: 'scraped',
    statuses: { 200: 150 },
    successMetric: 150,
  });
  // 500 sockets with their parsers and buffers take a few MB; 64 MB of
  // growth would mean something is kept per connection or per request
  // that should not be (a body, a render per scrape).
  assert.ok(
    rssWhileHeld - rssBefore < 64 * 1024 * 1024,
    `RSS grew from ${rssBefore} to ${rssWhileHeld} bytes`,
  );
  // The server, not the client, ends them: headersTimeout is 10 s.
  assert.equal(phases.get('dropped')?.closedByServer, 500);
  assert.equal(await exporter.stop(), 0);
});

test('TLS and basic auth from a web config file; SIGHUP re-reads it', async (t) => {
  const ns = await createNamespace(t);
  const config = (password: string) => [
    ...TLS_WEB_CONFIG,
    'http_server_config:',
    '  headers:',
    '    X-Content-Type-Options: nosniff',
    'basic_auth_users:',
    `  prometheus: ${bcrypt.hashSync(password, 10)}`,
  ];
  const web = await webConfigBesideCertificates(t, config('first'));
  const { certs } = web;
  const exporter = await startExporter(ns, ['--web.config.file', web.file]);
  assert.match(
    exporter.stderr(),
    /serving metrics on https:\/\/\[::\]:9318\/metrics \(basic auth\)/,
  );
  const curl = async (url: string, ...args: string[]) => {
    const result = await ns.exec(
      ['curl', '-sS', '--max-time', '20', '--cacert', certs.caFile].concat([
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        ...args,
        url,
      ]),
    );
    return result.code === 0 ? Number(result.stdout) : `curl exit ${result.code}`;
  };
  const https = 'https://127.0.0.1:9318/metrics';
  assert.equal(await curl(https, '-u', 'prometheus:first'), 200);
  assert.equal(await curl(https, '-u', 'prometheus:wrong'), 401);
  assert.equal(await curl(https), 401);
  assert.notEqual(await curl('http://127.0.0.1:9318/metrics', '-u', 'prometheus:first'), 200);
  const body = await ns.exec([
    'curl',
    '-sS',
    '--fail',
    '--cacert',
    certs.caFile,
    '-u',
    'prometheus:first',
    '-D',
    '-',
    https,
  ]);
  assert.match(body.stdout, /^x-content-type-options: nosniff\r?$/im);
  assert.match(
    body.stdout,
    /^conntrack_exporter_scrape_collector_success\{collector="conntrack"\} 1$/m,
  );

  await web.write(config('second'));
  exporter.process.kill('SIGHUP');
  await waitFor(() => /SIGHUP: reloaded the web config/.test(exporter.stderr()), 10_000, 'reload');
  assert.equal(await curl(https, '-u', 'prometheus:second'), 200);
  assert.equal(await curl(https, '-u', 'prometheus:first'), 401);

  await web.write(['basic_auth_users:', '  prometheus: plaintext']);
  exporter.process.kill('SIGHUP');
  await waitFor(() => /stays in force/.test(exporter.stderr()), 10_000, 'refused reload');
  assert.match(
    exporter.stderr(),
    /error: SIGHUP: .*web\.yml: basic_auth_users\.prometheus: not a bcrypt hash.*; the previous web config stays in force/,
  );
  assert.equal(await curl(https, '-u', 'prometheus:second'), 200, 'still the last good config');
  assert.equal(await exporter.stop(), 0);
});

test('a bad web config file: one line naming the file and key, exit 2', async (t) => {
  const ns = await createNamespace(t);
  const { file } = await webConfigBesideCertificates(t, [
    'tls_server_config:',
    '  cert_file: server.crt',
    '  key_file: client.key',
  ]);
  const result = await ns.exec([process.execPath, CLI, '--web.config.file', file]);
  assert.equal(result.code, 2);
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(
    lines[0]!,
    new RegExp(
      `^conntrack-exporter: ${file}: tls_server_config: .*check the certificate, key and CA files$`,
    ),
  );
});
