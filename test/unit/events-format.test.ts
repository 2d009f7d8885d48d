import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import { decodeEvents } from '../../src/conntrack/events';
import { decodeRecords, RECORD_SIZE } from '../../src/conntrack/record';
import { ConntrackEntry, TcpState } from '../../src/conntrack/types';
import { formatEvent, LoggedEvent } from '../../src/model/event-format';
import { viewFlow } from '../../src/model/flow';

const AT_MS = Date.UTC(2024, 0, 2, 3, 4, 5, 678);

function entry(overrides: Partial<ConntrackEntry> = {}): ConntrackEntry {
  return {
    family: 4,
    tcpState: TcpState.Established,
    original: { src: '10.0.0.1', srcPort: 1001, dst: '10.0.0.2', dstPort: 80 },
    reply: { src: '10.0.0.2', srcPort: 80, dst: '10.0.0.1', dstPort: 1001 },
    status: 1 << 2,
    mark: 0,
    zone: 0,
    id: 1,
    timeout: 100,
    ...overrides,
  };
}

function logged(type: LoggedEvent['event']['type'], e: ConntrackEntry, local: string): LoggedEvent {
  return {
    event: { type, entry: e },
    flow: viewFlow(e, (address) => address === local),
    state: e.tcpState,
    atMs: AT_MS,
  };
}

const FIXTURES = path.join(__dirname, '..', 'fixtures');

/** A fixture's bytes in an ArrayBuffer of their own, as the addon hands them over. */
function fixtureBuffer(name: string): ArrayBuffer {
  const recorded = readFileSync(path.join(FIXTURES, name));
  const bytes = new Uint8Array(recorded.byteLength);
  bytes.set(recorded);
  return bytes.buffer;
}

test('netfilter lines are the lines conntrack -E -o timestamp printed for the same events', () => {
  // One loopback connection from its NEW to its DESTROY, with counters,
  // timestamps, a mark and a zone, recorded from the kernel by
  // test/fixtures/record-events.sh: the addon's records and conntrack's lines.
  const events = decodeEvents(fixtureBuffer('events.bin'));
  const lines = readFileSync(path.join(FIXTURES, 'events.conntrack.txt'), 'utf8')
    .trimEnd()
    .split('\n');
  assert.deepEqual(
    events.map((event) => event.type),
    ['new', 'update', 'update', 'update', 'update', 'update', 'destroy'],
  );
  assert.equal(lines.length, events.length);
  events.forEach((event, i) => {
    const line = lines[i]!;
    // conntrack stamps microseconds, the exporter the millisecond it read the event.
    const [, seconds, micros, rest] = /^\[(\d+)\.(\d{6})\](\t.*)$/.exec(line) ?? [];
    assert.ok(seconds !== undefined && micros !== undefined && rest !== undefined, line);
    const atMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const logged: LoggedEvent = {
      event,
      flow: viewFlow(event.entry, () => false),
      state: event.entry.tcpState,
      atMs,
    };
    const ours = formatEvent(logged, 'netfilter');
    assert.equal(ours, `[${seconds}.${micros.slice(0, 3)}000]${rest}`);
  });
  assert.match(lines.at(-1)!, / packets=[1-9]\d* bytes=[1-9]\d* .* delta-time=\d+$/);
});

test('the time stamp has six decimals, as conntrack -E prints it', () => {
  assert.match(
    formatEvent(logged('new', entry(), '10.0.0.1'), 'netfilter'),
    /^\[1704164645\.678000\]\t {4}\[NEW\] tcp {6}6 100 ESTABLISHED src=10\.0\.0\.1 /,
  );
});

test('JSON lines carry the original keys, the remote host and the state', () => {
  const inbound = entry({
    family: 6,
    tcpState: TcpState.SynRecv,
    original: { src: '2001:db8::2', srcPort: 50000, dst: '2001:db8::1', dstPort: 443 },
    reply: { src: '2001:db8::1', srcPort: 443, dst: '2001:db8::2', dstPort: 50000 },
  });
  assert.deepEqual(JSON.parse(formatEvent(logged('update', inbound, '2001:db8::1'), 'json')), {
    timestamp: '2024-01-02T03:04:05.678Z',
    event_type: 'update',
    original_source_host: '[2001:db8::2]:50000',
    original_destination_host: '[2001:db8::1]:443',
    reply_source_host: '[2001:db8::1]:443',
    reply_destination_host: '[2001:db8::2]:50000',
    remote_host: '[2001:db8::2]:50000',
    state: 'Opening',
    tcp_state: 'SYN_RECV',
    direction: 'inbound',
  });
  const unknown = { ...logged('destroy', entry({ tcpState: undefined }), '10.0.0.1') };
  const line = JSON.parse(formatEvent(unknown, 'json')) as Record<string, unknown>;
  assert.equal(line.state, null);
  assert.equal(line.remote_host, '10.0.0.2:80');
});

test('event records decode into entries with their event type', () => {
  const bytes = new Uint8Array(fixtureBuffer('dump.bin'));
  const count = bytes.byteLength / RECORD_SIZE;
  for (let i = 0; i < count; i++) bytes[i * RECORD_SIZE + 3] = (i % 3) + 1;
  const events = decodeEvents(bytes.buffer);
  assert.deepEqual(
    events.map((event) => event.type),
    Array.from({ length: count }, (_, i) => ['new', 'update', 'destroy'][i % 3]),
  );
  assert.deepEqual(
    events.map((event) => event.entry),
    decodeRecords(bytes.buffer),
  );
  bytes[3] = 0;
  assert.throws(() => decodeEvents(bytes.buffer), /unknown event type 0/);
});

test('an empty batch that arrives detached decodes to no events', () => {
  // What an empty external buffer from the addon looks like in JS.
  const detached = new ArrayBuffer(0);
  structuredClone(detached, { transfer: [detached] });
  assert.deepEqual(decodeEvents(detached), []);
  assert.deepEqual(decodeRecords(detached), []);
});
