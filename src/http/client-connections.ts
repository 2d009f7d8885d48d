import type net from 'node:net';

/** The address a limit per client counts by: an IPv4 client seen on an IPv6 socket is that IPv4 address. */
export function clientAddress(socket: net.Socket): string {
  const address = socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * Closes, on accept, a connection from an address that already holds
 * `max()` of them, so that one client (idle connections, a slowloris) cannot
 * take every slot of the server's maxConnections from the others.
 */
export function limitConnectionsPerClient(server: net.Server, max: () => number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: net.Socket) => {
    const address = clientAddress(socket);
    const count = open.get(address) ?? 0;
    if (count >= max()) {
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}
