import { readFileSync } from 'node:fs';

/**
 * Whether the exporter holds more privilege than it needs. It needs
 * CAP_NET_ADMIN to read the conntrack table, and CAP_NET_BIND_SERVICE only
 * to listen on a port below 1024. "More than needed" is any other effective
 * capability: typically root with the full set. Root stripped down to
 * CAP_NET_ADMIN (docker --cap-drop=ALL --cap-add=NET_ADMIN) is not warned
 * about: the capabilities, not the uid, are what an intruder would inherit.
 */

const CAP_NET_BIND_SERVICE = 10;
const CAP_NET_ADMIN = 12;

// linux/capability.h, by bit number.
const CAPABILITY_NAMES = [
  ...['CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID'],
  ...['SETPCAP', 'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW'],
  ...['IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT'],
  ...['SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD'],
  ...['LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG'],
  ...['WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE'],
];

/** Names of the capabilities in the CapEff line of /proc/<pid>/status ("CAP_SYS_ADMIN"). */
export function effectiveCapabilities(status: string): string[] | undefined {
  const hex = /^CapEff:\s*([0-9a-f]+)$/im.exec(status)?.[1];
  if (hex === undefined) return undefined;
  const mask = BigInt(`0x${hex}`);
  const names: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if ((mask >> BigInt(bit)) & 1n) names.push(`CAP_${CAPABILITY_NAMES[bit] ?? String(bit)}`);
  }
  return names;
}

/**
 * The warning to log once at start, or undefined when the process holds
 * only what it needs (or /proc does not say).
 */
export function excessPrivilegeWarning(
  status: string,
  uid: number,
  listenPort: number,
  /** Needed for the options in use, e.g. CAP_SYS_ADMIN to enter a namespace with --netns. */
  alsoNeeded: readonly string[] = [],
): string | undefined {
  const held = effectiveCapabilities(status);
  if (held === undefined) return undefined;
  const needed = new Set([`CAP_${CAPABILITY_NAMES[CAP_NET_ADMIN]}`, ...alsoNeeded]);
  if (listenPort < 1024) needed.add(`CAP_${CAPABILITY_NAMES[CAP_NET_BIND_SERVICE]}`);
  const extra = held.filter((name) => !needed.has(name));
  if (extra.length === 0) return undefined;
  const who = uid === 0 ? 'as root' : `as uid ${uid}`;
  const examples = extra.filter((name) => name === 'CAP_SYS_ADMIN' || name === 'CAP_DAC_OVERRIDE');
  const shown = (examples.length > 0 ? examples : extra).slice(0, 2).join(', ');
  return (
    `running ${who} with ${extra.length} capabilit${extra.length === 1 ? 'y' : 'ies'} it does not need ` +
    `(${shown}${extra.length > 2 ? ', ...' : ''}); only CAP_NET_ADMIN is needed: run it as an ` +
    `unprivileged user holding just that, e.g. User= with AmbientCapabilities=CAP_NET_ADMIN in a ` +
    `systemd unit (see "Least privilege" in the README)`
  );
}

/** excessPrivilegeWarning for this process. */
export function ownExcessPrivilegeWarning(
  listenPort: number,
  alsoNeeded: readonly string[] = [],
): string | undefined {
  let status: string;
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
  return excessPrivilegeWarning(status, process.geteuid?.() ?? -1, listenPort, alsoNeeded);
}
