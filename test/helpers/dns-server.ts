/**
 * A real DNS server for end-to-end tests: dnsmasq in one namespace serving
 * PTR records, and another namespace's resolver pointed at it through
 * /etc/netns/<name>/resolv.conf (which `ip netns exec` mounts over
 * /etc/resolv.conf). The root namespace's /etc/resolv.conf is never touched.
 */
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

import { isProcessAlive, waitFor, type Namespace } from './netns';

/** Address -> the name its PTR record gives. Addresses not listed get NXDOMAIN. */
export type PtrRecords = Record<string, string>;

export interface DnsServer {
  /** Replaces the records; resolves once dnsmasq has read them. */
  setRecords(records: PtrRecords): Promise<void>;
  /** Drops every DNS query from now on, so the server never answers. */
  silence(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const NETNS_ETC = '/etc/netns';
// The names netns.ts gives namespaces: cte-<pid of the test process>-...
const OWNED_NAME = /^cte-(\d+)-[0-9a-f]+-[hrn]$/;

/** Removes the resolv.conf directories of test runs that were killed. */
function reapOrphans(): void {
  if (!existsSync(NETNS_ETC)) return;
  for (const name of readdirSync(NETNS_ETC)) {
    const owner = OWNED_NAME.exec(name)?.[1];
    if (owner !== undefined && !isProcessAlive(Number(owner))) {
      rmSync(path.join(NETNS_ETC, name), { recursive: true, force: true });
    }
  }
}

/**
 * Starts dnsmasq on `server`'s IPv4 address and makes `client` use it. Both
 * are undone after the test, however it ends: dnsmasq is also killed with
 * its namespace, and the resolv.conf directory is removed by `t.after`.
 */
export async function startDnsServer(
  t: TestContext,
  server: Namespace,
  client: Namespace,
  records: PtrRecords,
): Promise<DnsServer> {
  reapOrphans();
  const netnsDir = path.join(NETNS_ETC, client.name);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'cte-dns-'));
  const cleanUp = () => {
    rmSync(netnsDir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
    process.off('exit', cleanUp);
  };
  // 'exit' too, for a run that ends before its t.after hooks; what a signal
  // leaves behind is reaped by the next run.
  process.on('exit', cleanUp);
  t.after(cleanUp);
  // dnsmasq drops to "nobody", who must still read the hosts file on SIGHUP.
  chmodSync(dataDir, 0o755);
  const hostsFile = path.join(dataDir, 'hosts');
  const writeRecords = (list: PtrRecords) =>
    writeFileSync(
      hostsFile,
      Object.entries(list)
        .map(([address, name]) => `${address} ${name}\n`)
        .join(''),
      { mode: 0o644 },
    );
  writeRecords(records);

  mkdirSync(netnsDir, { recursive: true });
  writeFileSync(path.join(netnsDir, 'resolv.conf'), `nameserver ${server.ipv4}\n`);

  const dnsmasq = server.spawn([
    'dnsmasq',
    '--keep-in-foreground',
    '--log-facility=-',
    '--log-queries',
    '--pid-file=',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    `--addn-hosts=${hostsFile}`,
    // Reverse names it does not hold are NXDOMAIN, not forwarded anywhere.
    '--local=/in-addr.arpa/',
    '--local=/ip6.arpa/',
    '--bind-interfaces',
    `--listen-address=${server.ipv4}`,
    '--port=53',
  ]);
  t.after(async () => {
    if (dnsmasq.exitCode === null && dnsmasq.signalCode === null) {
      dnsmasq.kill('SIGKILL');
      await once(dnsmasq, 'exit');
    }
  });
  let log = '';
  dnsmasq.stdout?.resume();
  dnsmasq.stderr?.setEncoding('utf8');
  dnsmasq.stderr?.on('data', (chunk: string) => (log += chunk));
  const reads = () => log.split(`read ${hostsFile}`).length - 1;
  await waitFor(
    () => {
      if (dnsmasq.exitCode !== null) throw new Error(`dnsmasq exited: ${log}`);
      return reads() >= 1;
    },
    START_TIMEOUT_MS,
    'dnsmasq to start',
  ).catch((error: Error) => {
    throw new Error(`${error.message}; its log: ${log}`);
  });

  return {
    async setRecords(list) {
      const before = reads();
      writeRecords(list);
      dnsmasq.kill('SIGHUP');
      await waitFor(() => reads() > before, START_TIMEOUT_MS, 'dnsmasq to reread its records');
    },
    async silence() {
      const rules = [
        'add table inet dns_blackhole',
        'add chain inet dns_blackhole inbound { type filter hook input priority -10; }',
        'add rule inet dns_blackhole inbound udp dport 53 drop',
        'add rule inet dns_blackhole inbound tcp dport 53 drop',
      ];
      const result = await server.exec(['nft', rules.join('; ')]);
      if (result.code !== 0) throw new Error(`nft: ${result.stderr}`);
    },
  };
}
