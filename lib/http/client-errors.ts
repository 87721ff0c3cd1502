// Requests Node's HTTP parser refuses before any route sees them — headers over Node's 16 KiB
// limit, a malformed request line — used to get Node's bare `431`/`400` with an empty body. They
// now get the same JSON error shape as every other refusal (`error_code`, and a message naming
// the limit), then the connection closes: the parser cannot resynchronise on that socket.
import type { Socket } from 'node:net';

/** What a refused request is told: status line and JSON body. */
export function clientErrorResponse(code: string | undefined): { status: number; reason: string; body: string } {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return {
      status: 431,
      reason: 'Request Header Fields Too Large',
      body: JSON.stringify({ error_code: 'INVALID_REQUEST', message: 'request headers are larger than the server accepts (16 KiB in total, Node\'s max-http-header-size)', limit_bytes: 16384 }),
    };
  }
  return { status: 400, reason: 'Bad Request', body: JSON.stringify({ error_code: 'INVALID_REQUEST', message: 'malformed HTTP request' }) };
}

/** Answer parser-level refusals of `server` with a JSON error body. */
export function answerClientErrors(server: { on(event: 'clientError', listener: (err: NodeJS.ErrnoException, socket: Socket) => void): unknown }): void {
  server.on('clientError', (err, socket) => {
    // A peer that reset or timed out hears nothing; a socket already written to is left alone.
    if (err.code === 'ECONNRESET' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || !socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    const r = clientErrorResponse(err.code);
    socket.end(
      `HTTP/1.1 ${r.status} ${r.reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(r.body)}\r\nconnection: close\r\n\r\n${r.body}`,
    );
  });
}
