import type http from 'node:http';
import type { Duplex } from 'node:stream';

const ALLOW = 'GET, HEAD';

function rawResponse(status: string, body: string, allow = false): string {
  return (
    `HTTP/1.1 ${status}\r\n` +
    (allow ? `Allow: ${ALLOW}\r\n` : '') +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

const NOT_ALLOWED = rawResponse('405 Method Not Allowed', 'Method Not Allowed\n', true);
// Node's own answers when the request cannot be parsed (what it sends
// without a clientError listener).
const PARSE_ERRORS: Readonly<Record<string, string>> = {
  HPE_HEADER_OVERFLOW: rawResponse('431 Request Header Fields Too Large', ''),
  ERR_HTTP_REQUEST_TIMEOUT: rawResponse('408 Request Timeout', ''),
  HPE_INVALID_METHOD: NOT_ALLOWED,
};
const BAD_REQUEST = rawResponse('400 Bad Request', '');

/**
 * 405 with Allow for the methods the request handler never sees: CONNECT
 * (Node hands it to a 'connect' listener, and without one just closes the
 * connection) and methods the HTTP parser does not know (Node answers 400).
 * Neither gets past this point, so neither reaches authentication.
 */
export function answerUnsupportedMethods(server: http.Server): void {
  server.on('connect', (_request: http.IncomingMessage, socket: Duplex) => {
    socket.end(NOT_ALLOWED);
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (socket.writable && (socket as Duplex & { bytesWritten?: number }).bytesWritten === 0) {
      socket.write(PARSE_ERRORS[error.code ?? ''] ?? BAD_REQUEST);
    }
    socket.destroy();
  });
}
