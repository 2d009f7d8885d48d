/**
 * The proxy core without the CLI or metrics server, to measure what
 * counting bytes costs: the same relay with and without its adds.
 * Usage: LISTEN_PORT TARGET_PORT [--no-count]. Prints "ready" once listening.
 */
import type { Logger } from '../../src/log';
import { TcpProxy } from '../../src/proxy/tcp-proxy';
import { ProxyTraffic } from '../../src/proxy/traffic';

const [listenPort, targetPort, flag] = process.argv.slice(2);
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
const proxy = new TcpProxy({
  target: { host: '127.0.0.1', port: Number(targetPort) },
  dialTimeoutMs: 10_000,
  traffic: new ProxyTraffic(),
  log: quiet,
  countBytes: flag !== '--no-count',
});
void proxy
  .listen({ host: '127.0.0.1', port: Number(listenPort) })
  .then(() => process.stdout.write('ready\n'));
