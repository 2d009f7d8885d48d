/**
 * The reference the numbers call "a bare Node pipe() proxy": no
 * metrics, no timeouts, streams piped both ways. Usage: LISTEN_PORT TARGET_PORT.
 */
import net from 'node:net';

const [listenPort, targetPort] = process.argv.slice(2).map(Number);

net
  .createServer({ allowHalfOpen: true }, (client) => {
    const target = net.connect({ host: '127.0.0.1', port: targetPort ?? 0, allowHalfOpen: true });
    client.pipe(target);
    target.pipe(client);
    client.on('error', () => target.destroy());
    target.on('error', () => client.destroy());
  })
  .listen(listenPort, '127.0.0.1', () => process.stdout.write('ready\n'));
