import net from 'node:net';

/** How the switch treats new connections. */
export type SwitchMode = 'forward' | 'down' | 'blackhole';

/**
 * A TCP forwarder on a fixed 127.0.0.1 port in front of a dependency (moto's KMS or DynamoDB), so
 * a test can take the dependency away and bring it back with its state intact: `down` refuses
 * connections (nothing listens) and cuts open ones, `blackhole` accepts and never answers.
 */
export class TcpSwitch {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private mode: SwitchMode = 'down';

  private constructor(
    readonly port: number,
    private readonly targetPort: number,
  ) {}

  /** Starts forwarding from a kernel-chosen port to `targetPort`. */
  static async start(targetPort: number): Promise<TcpSwitch> {
    const probe = net.createServer();
    const port = await new Promise<number>((resolve) =>
      probe.listen(0, '127.0.0.1', () => resolve((probe.address() as net.AddressInfo).port)),
    );
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const sw = new TcpSwitch(port, targetPort);
    await sw.set('forward');
    return sw;
  }

  /** `http://127.0.0.1:<port>`, for an AWS client's `endpoint`. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Switches mode; open connections are cut whenever the mode changes. */
  async set(mode: SwitchMode): Promise<void> {
    if (mode === this.mode) return;
    this.mode = mode;
    this.cutAll();
    if (mode === 'down') return this.stopListening();
    if (!this.server) await this.listen();
  }

  /** Stops listening and cuts every connection. */
  async close(): Promise<void> {
    await this.set('down');
  }

  private cutAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  }

  private onConnection(client: net.Socket): void {
    this.track(client);
    if (this.mode === 'blackhole') return;
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    this.track(upstream);
    client.pipe(upstream).pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  }

  private listen(): Promise<void> {
    const server = net.createServer((c) => this.onConnection(c));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  private stopListening(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
