/**
 * Run inside a network namespace by test/e2e/addresses.test.ts: changes
 * that namespace's addresses and links (or, given a namespace's path,
 * watches that one and changes it with `ip -n NAME`), and prints as JSON
 * the local addresses after each step and how many times the interfaces
 * had been read by then.
 *
 *   node --import tsx address-watch.ts [/var/run/netns/NAME]
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

import { loadAddon } from '../../src/conntrack/addon';
import { watchNetworkNamespace } from '../../src/conntrack/netns';
import { localAddresses } from '../../src/model/local-addresses';

const watched = process.argv[2];
if (watched !== undefined) watchNetworkNamespace(watched);
const ip = (...args: string[]): void => {
  const where = watched === undefined ? [] : ['-n', path.basename(watched)];
  execFileSync('ip', [...where, ...args]);
};

// Each way the interfaces are read, counted: Node's for our own namespace,
// the addon's for a watched one.
let reads = 0;
const addon = loadAddon();
const nodeRead = os.networkInterfaces.bind(os);
const addonRead = addon.interfaceAddresses.bind(addon);
os.networkInterfaces = () => {
  reads++;
  return nodeRead();
};
addon.interfaceAddresses = () => {
  reads++;
  return addonRead();
};

const steps: { step: string; reads: number; local?: string[]; changed?: boolean }[] = [];
const step = (name: string): void => {
  const local = [...localAddresses()].sort();
  steps.push({ step: name, reads, local });
};

ip('link', 'set', 'lo', 'up');
step('first');
step('nothing changed');
ip('addr', 'add', '192.0.2.50/32', 'dev', 'lo');
ip('addr', 'add', '2001:db8::50/128', 'dev', 'lo', 'nodad');
step('two addresses added');
step('nothing changed since');
ip('addr', 'del', '192.0.2.50/32', 'dev', 'lo');
step('one removed');
ip('link', 'set', 'lo', 'down');
// Which addresses a down interface keeps differs between Node's list and
// getifaddrs: only that they were read again is asked.
localAddresses();
steps.push({ step: 'lo down', reads });
// Nothing since: the addon says so itself.
steps.push({ step: 'asked the addon', reads, changed: addon.addressesChanged() });
process.stdout.write(JSON.stringify(steps));
