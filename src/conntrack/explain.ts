import { ConntrackError } from './index';

/**
 * Turns a failed read of the table into what the operator should do about
 * it. The kernel's errno is the only reliable clue to the cause.
 */
export function explainReadError(error: ConntrackError): string {
  switch (error.code) {
    case 'EPERM':
    case 'EACCES':
      return (
        'permission denied reading the conntrack table; run as root or with CAP_NET_ADMIN ' +
        '(docker run --cap-add=NET_ADMIN, or AmbientCapabilities=CAP_NET_ADMIN in a systemd unit)'
      );
    case 'EPROTONOSUPPORT':
    case 'EOPNOTSUPP':
    case 'EAFNOSUPPORT':
    case 'ENOENT':
      return (
        `the kernel offers no conntrack table (${error.message}); load the modules on the host ` +
        `with 'modprobe nf_conntrack nf_conntrack_netlink'`
      );
    default:
      return `cannot read the conntrack table: ${error.message}`;
  }
}
