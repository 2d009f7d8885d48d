import net from 'node:net';

/** net.Socket's constructor options that @types/node leaves out. */
interface HandleSocketOptions extends net.SocketConstructorOpts {
  handle: object;
  onread: net.OnReadOpts;
}

interface HandleHolder {
  _handle?: object | null;
}

/**
 * Gives an accepted connection a new net.Socket that reads into our own
 * buffers. net.Server has no `onread` option, and reading through
 * streams costs a buffer allocation and an event per chunk, which is what
 * keeps a plain `pipe()` proxy below haproxy's throughput. The socket must
 * come from a server created with `pauseOnConnect`, so nothing was read yet.
 *
 * This relies on net.Socket's long-standing `_handle` field and its
 * `handle` constructor option (used by Node's own http2 and cluster code).
 * Returns undefined where they are missing so the caller can fall back.
 */
export function adoptAcceptedSocket(
  accepted: net.Socket,
  onread: net.OnReadOpts,
): net.Socket | undefined {
  const holder = accepted as unknown as HandleHolder;
  const handle = holder._handle;
  if (handle === null || typeof handle !== 'object') return undefined;
  holder._handle = null;
  // With no handle, destroy() only settles the server's connection count.
  accepted.destroy();
  const options: HandleSocketOptions = {
    handle,
    allowHalfOpen: true,
    readable: true,
    writable: true,
    onread,
  };
  return new net.Socket(options);
}
