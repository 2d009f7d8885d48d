import assert from 'node:assert/strict';
import test from 'node:test';

import { ConntrackEntry, TcpState, Tuple } from '../../src/conntrack/types';
import { viewFlow } from '../../src/model/flow';

// This host: 192.0.2.1 and 2001:db8::1 (plus loopback). Everything else is remote.
const LOCAL = new Set(['192.0.2.1', '2001:db8::1', '127.0.0.1', '::1']);
const isLocal = (address: string) => LOCAL.has(address);

function entry(original: Tuple, reply: Tuple): ConntrackEntry {
  return {
    family: original.src.includes(':') ? 6 : 4,
    tcpState: TcpState.Established,
    original,
    reply,
    status: 0,
    mark: 0,
    zone: 0,
    id: 1,
    timeout: 100,
  };
}
const t = (src: string, srcPort: number, dst: string, dstPort: number): Tuple => ({
  src,
  dst,
  srcPort,
  dstPort,
});

test('outbound: this host connects to a remote service', () => {
  const flow = viewFlow(
    entry(t('192.0.2.1', 40000, '198.51.100.5', 443), t('198.51.100.5', 443, '192.0.2.1', 40000)),
    isLocal,
  );
  assert.deepEqual(flow, {
    direction: 'outbound',
    remote: '198.51.100.5',
    port: 443,
    localResponder: false,
  });
});

test('inbound: a remote client connects to a local service; the port is the local one', () => {
  const flow = viewFlow(
    entry(t('198.51.100.5', 50000, '192.0.2.1', 22), t('192.0.2.1', 22, '198.51.100.5', 50000)),
    isLocal,
  );
  assert.deepEqual(flow, {
    direction: 'inbound',
    remote: '198.51.100.5',
    port: 22,
    localResponder: true,
  });
});

test('inbound over IPv6', () => {
  const flow = viewFlow(
    entry(t('2001:db8::2', 50000, '2001:db8::1', 80), t('2001:db8::1', 80, '2001:db8::2', 50000)),
    isLocal,
  );
  assert.equal(flow.direction, 'inbound');
  assert.equal(flow.remote, '2001:db8::2');
  assert.equal(flow.port, 80);
});

test('outbound through DNAT (a service address): the remote is the backend that answered', () => {
  // 10.96.0.10:53 is rewritten to the backend 198.51.100.9:5353.
  const flow = viewFlow(
    entry(t('192.0.2.1', 40000, '10.96.0.10', 53), t('198.51.100.9', 5353, '192.0.2.1', 40000)),
    isLocal,
  );
  assert.deepEqual(flow, {
    direction: 'outbound',
    remote: '198.51.100.9',
    port: 5353,
    localResponder: false,
  });
});

test('inbound redirected to a local port: the port is the one that served it', () => {
  // A client asks for :80; a REDIRECT rule hands it to the local :8080.
  const flow = viewFlow(
    entry(t('198.51.100.5', 50000, '192.0.2.1', 80), t('192.0.2.1', 8080, '198.51.100.5', 50000)),
    isLocal,
  );
  assert.equal(flow.direction, 'inbound');
  assert.equal(flow.port, 8080);
  assert.equal(flow.remote, '198.51.100.5');
});

test('inbound published to a container: inbound on the port the client asked for', () => {
  // Port 80 of this host is DNAT'ed to a container at 172.17.0.2:8080 (not a local address).
  const flow = viewFlow(
    entry(t('198.51.100.5', 50000, '192.0.2.1', 80), t('172.17.0.2', 8080, '198.51.100.5', 50000)),
    isLocal,
  );
  assert.deepEqual(flow, {
    direction: 'inbound',
    remote: '198.51.100.5',
    port: 80,
    localResponder: true,
  });
});

test('outbound from a container masqueraded by this host (SNAT) counts as outbound', () => {
  // 172.17.0.2 is not a host address; the reply comes back to 192.0.2.1.
  const flow = viewFlow(
    entry(t('172.17.0.2', 40000, '198.51.100.5', 443), t('198.51.100.5', 443, '192.0.2.1', 61000)),
    isLocal,
  );
  assert.deepEqual(flow, {
    direction: 'outbound',
    remote: '198.51.100.5',
    port: 443,
    localResponder: false,
  });
});

test('forwarded: neither end is this host; labelled by the destination', () => {
  const flow = viewFlow(
    entry(t('203.0.113.7', 40000, '198.51.100.5', 25), t('198.51.100.5', 25, '203.0.113.7', 40000)),
    isLocal,
  );
  assert.deepEqual(flow, {
    direction: 'forwarded',
    remote: '198.51.100.5',
    port: 25,
    localResponder: false,
  });
});

test('loopback: one connection, counted once as outbound to the local service', () => {
  const flow = viewFlow(
    entry(t('127.0.0.1', 40000, '127.0.0.1', 9318), t('127.0.0.1', 9318, '127.0.0.1', 40000)),
    isLocal,
  );
  assert.deepEqual(flow, {
    direction: 'outbound',
    remote: '127.0.0.1',
    port: 9318,
    localResponder: true,
  });
});
