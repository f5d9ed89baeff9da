import net from 'node:net';

/** What a raw connection saw: the bytes the server sent, when the first arrived, and when it closed. */
export interface SlowResult {
  text: string;
  firstByteMs?: number;
  closedMs: number;
}

/**
 * Opens a raw TCP connection, writes `head` at once, then `drip` every `everyMs` until the server
 * closes the connection (or `giveUpMs` passes: then resolves with what it has and closes itself).
 */
export function slowRequest(
  port: number,
  head: string,
  opts: { drip?: string; everyMs?: number; giveUpMs?: number } = {},
): Promise<SlowResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    let firstByteMs: number | undefined;
    const socket = net.connect(port, '127.0.0.1', () => {
      if (head !== '') socket.write(head);
    });
    const timer =
      opts.drip === undefined
        ? undefined
        : setInterval(() => {
            if (!socket.destroyed && socket.writable) socket.write(opts.drip as string);
          }, opts.everyMs ?? 100);
    const giveUp = setTimeout(() => socket.destroy(), opts.giveUpMs ?? 15_000);
    socket.on('data', (d: Buffer) => {
      firstByteMs ??= Date.now() - started;
      chunks.push(d);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ text: Buffer.concat(chunks).toString('utf8'), firstByteMs, closedMs: Date.now() - started });
    });
  });
}
