import assert from 'node:assert/strict';
import test from 'node:test';

import { TcpState } from '../../src/conntrack/types';
import { aggregate } from '../../src/model/aggregate';
import { HostFilter } from '../../src/model/host-filter';
import { tcpEntry } from '../helpers/entry';

const LOCAL = new Set(['192.0.2.1', '127.0.0.1']);

/** All entries here are IPv4 without NAT; the id plays no part in aggregation. */
const conn = (tcpState: TcpState | undefined, from: [string, number], to: [string, number]) =>
  tcpEntry(0, tcpState, from, to);

const here = (port: number): [string, number] => ['192.0.2.1', port];
const db: [string, number] = ['198.51.100.5', 5432];

test('counts every phase per remote host, service port and direction', () => {
  const groups = aggregate(
    [
      conn(TcpState.Established, here(40000), db),
      conn(TcpState.Established, here(40001), db),
      conn(TcpState.SynSent, here(40002), db),
      conn(TcpState.TimeWait, here(40003), db),
      conn(TcpState.Close, here(40004), db),
      conn(TcpState.Established, ['198.51.100.5', 50000], here(22)),
      conn(TcpState.SynRecv, ['198.51.100.6', 50000], here(22)),
      conn(undefined, here(40005), db),
      conn(TcpState.None, here(40006), db),
    ],
    { localAddresses: LOCAL },
  );
  assert.deepEqual(groups, [
    {
      host: '198.51.100.5',
      port: 5432,
      direction: 'outbound',
      counts: { opening: 1, open: 2, closing: 1, closed: 1 },
    },
    {
      host: '198.51.100.5',
      port: 22,
      direction: 'inbound',
      counts: { opening: 0, open: 1, closing: 0, closed: 0 },
    },
    {
      host: '198.51.100.6',
      port: 22,
      direction: 'inbound',
      counts: { opening: 1, open: 0, closing: 0, closed: 0 },
    },
  ]);
});

test("connections to the exporter's own port are left out unless asked for", () => {
  const entries = [
    conn(TcpState.Established, ['198.51.100.7', 50000], here(9318)), // Prometheus scraping us
    conn(TcpState.Established, ['127.0.0.1', 50001], ['127.0.0.1', 9318]), // a local curl
    conn(TcpState.Established, here(40000), ['198.51.100.7', 9318]), // another host's exporter
  ];
  const without = aggregate(entries, { localAddresses: LOCAL, ownPort: 9318 });
  assert.deepEqual(
    without.map((g) => `${g.direction} ${g.host}:${g.port}`),
    ['outbound 198.51.100.7:9318'],
  );
  const withOwn = aggregate(entries, { localAddresses: LOCAL });
  assert.equal(withOwn.length, 3);
});

test('ignored hosts are left out', () => {
  const groups = aggregate(
    [
      conn(TcpState.Established, here(40000), db),
      conn(TcpState.Established, here(40001), ['198.51.100.9', 443]),
      conn(TcpState.Established, here(40002), ['198.51.100.9', 80]),
    ],
    { localAddresses: LOCAL, ignore: HostFilter.parse(['198.51.100.5', '198.51.100.9:443']) },
  );
  assert.deepEqual(
    groups.map((g) => `${g.host}:${g.port}`),
    ['198.51.100.9:80'],
  );
});
