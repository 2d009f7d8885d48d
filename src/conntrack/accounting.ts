import { readNetFileNow } from './netns';

export const ACCOUNTING_SYSCTL = '/proc/sys/net/netfilter/nf_conntrack_acct';

/**
 * Whether the kernel counts bytes and packets of new entries
 * (net.netfilter.nf_conntrack_acct), in the watched namespace; undefined
 * when it does not say. Read at once: the kernel answers from memory. The
 * exporter only reads it: accounting costs every tracked packet a little,
 * which is the administrator's choice.
 */
export function accountingOn(file = ACCOUNTING_SYSCTL): boolean | undefined {
  try {
    return readNetFileNow(file).trim() !== '0';
  } catch {
    return undefined;
  }
}

/** The landing page's words for accountingOn(). */
export function describeAccounting(on: boolean | undefined): string {
  if (on === undefined) return 'unknown (no net.netfilter.nf_conntrack_acct)';
  return on ? 'on' : 'off (net.netfilter.nf_conntrack_acct=0)';
}

/**
 * The start-up line when accounting is off. The kernel gives an entry its
 * counters when it creates it, so turning accounting on later counts the
 * connections opened from then on only.
 */
export const ACCOUNTING_OFF =
  'connection accounting is off (net.netfilter.nf_conntrack_acct=0), so the traffic counters ' +
  'are absent; turn it on with sysctl -w net.netfilter.nf_conntrack_acct=1: only connections ' +
  'opened after that have counts';
