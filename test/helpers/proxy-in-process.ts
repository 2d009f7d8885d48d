/** The proxy core started in the test process, for tests that look at its counts. */
import type { TestContext } from 'node:test';

import type { Logger } from '../../src/log';
import { TcpProxy } from '../../src/proxy/tcp-proxy';
import { ProxyTraffic } from '../../src/proxy/traffic';

export interface InProcessProxy {
  proxy: TcpProxy;
  traffic: ProxyTraffic;
  port: number;
  warnings: string[];
}

export async function startInProcessProxy(
  t: TestContext,
  targetPort: number,
  {
    dialTimeoutMs = 10_000,
    targetHost = '127.0.0.1',
    listenHost = '127.0.0.1',
    // Two relay threads: connections are handed over and counts summed, as in production.
    workers = 2,
  } = {},
): Promise<InProcessProxy> {
  const traffic = new ProxyTraffic();
  const warnings: string[] = [];
  const log: Logger = {
    info: () => {},
    debug: () => {},
    warn: (message) => warnings.push(message),
    error: (message) => warnings.push(message),
  };
  const proxy = new TcpProxy({
    target: { host: targetHost, port: targetPort },
    dialTimeoutMs,
    workers,
    traffic,
    log,
  });
  const { port } = await proxy.listen({ host: listenHost, port: 0 });
  t.after(() => {
    proxy.stopAccepting();
    proxy.resetAll();
    proxy.close();
  });
  return { proxy, traffic, port, warnings };
}
