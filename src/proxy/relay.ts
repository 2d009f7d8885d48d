import net from 'node:net';
import { adoptAcceptedSocket } from './adopt-socket';
import type { HostPort } from './address';
import { Pump } from './pump';
import type { ReadBuffers } from './read-buffers';
import {
  classifyDialError,
  DialTimeoutError,
  type DialFailureReason,
  type ProxyTraffic,
} from './traffic';

export interface RelayContext {
  readonly target: HostPort;
  readonly dialTimeoutMs: number;
  readonly traffic: ProxyTraffic;
  readonly buffers: ReadBuffers;
  /** Off only to measure what counting costs. */
  readonly countBytes: boolean;
  /** Off only to test the plain-stream path used where adoption is unavailable. */
  readonly adoptSockets: boolean;
  onDialFailure(reason: DialFailureReason, error: Error): void;
  onFinished(relay: Relay): void;
}

// Go's default, which the original proxy had: dead peers do not hold
// connections (and a drain) open forever.
const KEEPALIVE_MS = 15_000;

/**
 * One client connection and its connection to the target. Each direction
 * is a Pump; FIN is passed on as FIN (half-close), an error or RST on one
 * side becomes an RST on the other, and the relay is finished when both
 * sockets have closed.
 */
export class Relay {
  private readonly client: net.Socket;
  private readonly target: net.Socket;
  private readonly upstream: Pump;
  private readonly downstream: Pump;
  private dialTimer: NodeJS.Timeout | undefined;
  private targetConnected = false;
  private openSockets = 2;

  constructor(
    accepted: net.Socket,
    private readonly context: RelayContext,
  ) {
    const { traffic, buffers, countBytes } = context;
    traffic.accepted++;
    traffic.activeInbound++;
    this.upstream = new Pump(buffers, countBytes ? traffic.upstream : null);
    this.downstream = new Pump(buffers, countBytes ? traffic.downstream : null);
    this.client = this.takeOver(accepted);
    this.target = net.connect({
      host: context.target.host,
      port: context.target.port,
      allowHalfOpen: true,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: KEEPALIVE_MS,
      onread: { buffer: this.downstream.nextBuffer, callback: this.downstream.onRead },
    });
    this.upstream.source = this.client;
    this.upstream.sink = this.target;
    this.downstream.source = this.target;
    this.downstream.sink = this.client;
    this.dialTimer = setTimeout(this.onDialTimeout, context.dialTimeoutMs);

    this.client.on('end', this.onClientEnd);
    this.client.on('error', this.onClientError);
    this.client.on('close', this.onClientClose);
    this.target.on('connect', this.onTargetConnect);
    this.target.on('end', this.onTargetEnd);
    this.target.on('error', this.onTargetError);
    this.target.on('close', this.onTargetClose);
  }

  /** Cuts both connections with an RST, so neither side mistakes the cut for an orderly end. */
  reset(): void {
    resetSocket(this.client);
    resetSocket(this.target);
  }

  private takeOver(accepted: net.Socket): net.Socket {
    const pump = this.upstream;
    if (this.context.adoptSockets) {
      const adopted = adoptAcceptedSocket(accepted, {
        buffer: pump.nextBuffer,
        callback: pump.onRead,
      });
      if (adopted !== undefined) {
        return adopted.setNoDelay(true).setKeepAlive(true, KEEPALIVE_MS);
      }
    }
    accepted.setNoDelay(true).setKeepAlive(true, KEEPALIVE_MS);
    accepted.on('data', (chunk: Buffer) => {
      if (!pump.onChunk(chunk)) accepted.pause();
    });
    accepted.resume();
    return accepted;
  }

  private readonly onDialTimeout = (): void => {
    this.dialTimer = undefined;
    this.target.destroy(new DialTimeoutError(this.context.dialTimeoutMs));
  };

  private readonly onTargetConnect = (): void => {
    clearTimeout(this.dialTimer);
    this.dialTimer = undefined;
    this.targetConnected = true;
    this.context.traffic.dialed++;
    this.context.traffic.activeOutbound++;
  };

  private readonly onClientEnd = (): void => {
    if (!this.target.destroyed) this.target.end();
  };

  private readonly onTargetEnd = (): void => {
    if (!this.client.destroyed) this.client.end();
  };

  private readonly onClientError = (): void => {
    resetSocket(this.target);
  };

  private readonly onTargetError = (error: Error): void => {
    if (!this.targetConnected) {
      const reason = classifyDialError(error);
      this.context.traffic.dialFailures[reason]++;
      this.context.onDialFailure(reason, error);
    }
    resetSocket(this.client);
  };

  private readonly onClientClose = (): void => {
    this.context.traffic.activeInbound--;
    // A client that leaves while the dial is still pending takes the dial with it.
    if (!this.targetConnected && !this.target.destroyed) this.target.destroy();
    this.socketClosed();
  };

  private readonly onTargetClose = (): void => {
    clearTimeout(this.dialTimer);
    this.dialTimer = undefined;
    if (this.targetConnected) this.context.traffic.activeOutbound--;
    this.socketClosed();
  };

  private socketClosed(): void {
    if (--this.openSockets > 0) return;
    this.upstream.release();
    this.downstream.release();
    this.context.onFinished(this);
  }
}

function resetSocket(socket: net.Socket): void {
  if (socket.destroyed) return;
  // resetAndDestroy() on a socket still connecting would wait for the connection.
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}
