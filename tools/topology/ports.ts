import net from 'node:net';

/** A loopback port nothing listens on now: `wanted` if given and free (else 0), or any free one. */
export function freePort(wanted?: number): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(0));
    server.listen(wanted ?? 0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
