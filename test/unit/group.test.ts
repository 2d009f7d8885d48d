import assert from 'node:assert/strict';
import test from 'node:test';

import { GroupIndex, groupKey, totalOf } from '../../src/model/group';

test('the index tells apart every host, port and direction, and port "other" from every number', () => {
  const index = new GroupIndex<string>();
  index.set('198.51.100.1', 443, 'outbound', 'a');
  index.set('198.51.100.1', 443, 'inbound', 'b');
  index.set('198.51.100.1', 444, 'outbound', 'c');
  index.set('198.51.100.2', 443, 'outbound', 'd');
  index.set('198.51.100.1', 'other', 'outbound', 'e');
  index.set('198.51.100.1', 0, 'outbound', 'f');
  assert.equal(index.get('198.51.100.1', 443, 'outbound'), 'a');
  assert.equal(index.get('198.51.100.1', 443, 'inbound'), 'b');
  assert.equal(index.get('198.51.100.1', 443, 'forwarded'), undefined);
  assert.equal(index.get('198.51.100.1', 444, 'outbound'), 'c');
  assert.equal(index.get('198.51.100.2', 443, 'outbound'), 'd');
  assert.equal(index.get('198.51.100.1', 'other', 'outbound'), 'e');
  assert.equal(index.get('198.51.100.1', 0, 'outbound'), 'f');
  assert.deepEqual(
    [...index.hosts()].map(([host, values]) => [host, [...values.values()].sort()]),
    [
      ['198.51.100.1', ['a', 'b', 'c', 'e', 'f']],
      ['198.51.100.2', ['d']],
    ],
  );
});

test('a host goes from the index with its last value, by delete or retain', () => {
  const index = new GroupIndex<number>();
  index.set('198.51.100.1', 443, 'outbound', 1);
  index.set('198.51.100.2', 443, 'outbound', 2);
  index.set('198.51.100.2', 80, 'outbound', 3);
  index.delete('198.51.100.1', 443, 'outbound');
  index.delete('198.51.100.9', 443, 'outbound');
  assert.deepEqual(
    [...index.hosts()].map(([host]) => host),
    ['198.51.100.2'],
  );
  index.retain((value) => value !== 2);
  assert.equal(index.get('198.51.100.2', 443, 'outbound'), undefined);
  assert.equal(index.get('198.51.100.2', 80, 'outbound'), 3);
  index.retain(() => false);
  assert.deepEqual([...index.hosts()], []);
});

test('the key string and the total of the phases', () => {
  assert.equal(
    groupKey({ host: '2001:db8::1', port: 5432, direction: 'inbound' }),
    'inbound|2001:db8::1|5432',
  );
  assert.equal(totalOf({ opening: 1, open: 2, closing: 3, closed: 4 }), 10);
});
