import assert from 'node:assert/strict';
import test from 'node:test';

import { ConntrackEntry, TcpState } from '../../src/conntrack/types';
import { countLongterm, dumpCandidates, FirstSeen, kernelAge } from '../../src/model/longterm';

const LOCAL = new Set(['192.0.2.1', '2001:db8::1']);
const isLocal = (address: string) => LOCAL.has(address);
let nextId = 1;

function inbound(
  client: string,
  localPort: number,
  state = TcpState.Established,
  startNs?: bigint,
): ConntrackEntry {
  const local = client.includes(':') ? '2001:db8::1' : '192.0.2.1';
  const clientPort = 40000 + nextId;
  return {
    family: client.includes(':') ? 6 : 4,
    tcpState: state,
    original: { src: client, srcPort: clientPort, dst: local, dstPort: localPort },
    reply: { src: local, srcPort: localPort, dst: client, dstPort: clientPort },
    status: 0,
    mark: 0,
    zone: 0,
    id: nextId++,
    timeout: 100,
    startNs,
  };
}

function outbound(server: string, port: number): ConntrackEntry {
  const entry = inbound(server, port);
  return { ...entry, original: entry.reply, reply: entry.original };
}

/** Candidates as a dump gives them, with the ages a test chooses. */
function withAges(entries: ConntrackEntry[], ages: number[]) {
  const firstSeen = new FirstSeen();
  return dumpCandidates(entries, isLocal, firstSeen, 0).map((candidate, i) => ({
    ...candidate,
    ageSeconds: ages[i]!,
  }));
}

const options = { minAgeSeconds: 6, includeIPv6: true, ownPort: 9318 };

test('counts inbound established connections old enough, per port and IP version', () => {
  const entries = [
    inbound('198.51.100.1', 443),
    inbound('198.51.100.2', 443),
    inbound('198.51.100.3', 443), // too young
    inbound('2001:db8::5', 443),
    inbound('198.51.100.4', 8080),
    inbound('198.51.100.5', 443, TcpState.TimeWait), // not established
    inbound('198.51.100.6', 9318), // the exporter's own port
    outbound('198.51.100.7', 443), // this host is the client
  ];
  const ages = [10, 6, 5.9, 60, 7, 100, 100, 100];
  const counts = countLongterm(withAges(entries, ages), options);
  assert.deepEqual(
    [...counts.values()],
    [
      { port: 443, tcpVersion: '4', count: 2 },
      { port: 443, tcpVersion: '6', count: 1 },
      { port: 8080, tcpVersion: '4', count: 1 },
    ],
  );
});

test('one port only, and IPv4 only', () => {
  const entries = [
    inbound('198.51.100.1', 443),
    inbound('2001:db8::5', 443),
    inbound('198.51.100.4', 8080),
  ];
  assert.deepEqual(
    [
      ...countLongterm(withAges(entries, [100, 100, 100]), {
        ...options,
        port: 443,
        includeIPv6: false,
      }).values(),
    ],
    [{ port: 443, tcpVersion: '4', count: 1 }],
  );
});

test('first-seen ages grow between passes and forget what went away', () => {
  const tracker = new FirstSeen();
  const a = inbound('198.51.100.1', 443);
  const b = inbound('198.51.100.2', 443);
  assert.deepEqual(tracker.pass([a], 1_000), [0]);
  assert.deepEqual(tracker.pass([a, b], 4_000), [3, 0]);
  assert.deepEqual(tracker.pass([b], 10_000), [6]);
  assert.equal(tracker.size, 1);
  assert.deepEqual(tracker.pass([a], 11_000), [0], 'a connection seen again is new');
});

test('the kernel start timestamp gives the age when present', () => {
  const now = 1_700_000_010_000;
  assert.equal(
    kernelAge(inbound('198.51.100.1', 443, TcpState.Established, 1_700_000_000_000_000_000n), now),
    10,
  );
  assert.equal(kernelAge(inbound('198.51.100.1', 443), now), undefined);
});

test('dump candidates take the kernel age when there is one, else the first sighting', () => {
  const firstSeen = new FirstSeen();
  const stamped = inbound('198.51.100.1', 443, TcpState.Established, 1_000_000_000n); // started at 1 s
  const plain = inbound('198.51.100.2', 443);
  dumpCandidates([stamped, plain], isLocal, firstSeen, 5_000);
  const later = dumpCandidates([stamped, plain], isLocal, firstSeen, 12_000);
  assert.deepEqual(
    later.map((c) => [c.direction, c.port, c.ageSeconds]),
    [
      ['inbound', 443, 11],
      ['inbound', 443, 7],
    ],
  );
});

test('a loopback connection to a local port counts once, on the server side', () => {
  // Made from the host to itself: both ends are local, conntrack holds one entry.
  const local = (address: string, port: number, clientPort: number): ConntrackEntry => ({
    family: address.includes(':') ? 6 : 4,
    tcpState: TcpState.Established,
    original: { src: address, srcPort: clientPort, dst: address, dstPort: port },
    reply: { src: address, srcPort: port, dst: address, dstPort: clientPort },
    status: 0,
    mark: 0,
    zone: 0,
    id: nextId++,
    timeout: 100,
  });
  const entries = [local('192.0.2.1', 3838, 50001), local('192.0.2.1', 3838, 50002)];
  const counts = countLongterm(withAges(entries, [10, 10]), options);
  assert.deepEqual([...counts.values()], [{ port: 3838, tcpVersion: '4', count: 2 }]);
});
