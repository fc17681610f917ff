// A TCP relay in front of an upstream, for end-to-end suites: the gateway
// dials the relay, and the test can cut the gateway off the upstream (every
// connection dropped, new ones refused) while the upstream itself keeps
// running, and then let it through again on the same port.
import { connect, createServer, type Server, type Socket } from "node:net";

export class Relay {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: number) {}

  /** Listens (again) on its port, or on a free one the first time. */
  async open(): Promise<this> {
    const server = createServer((client) => {
      const upstream = connect(this.target, "127.0.0.1");
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("error", end).on("close", end);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(this.port, "127.0.0.1", () => resolve()));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
    return this;
  }

  /** Drops every connection and refuses new ones until open() again. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
