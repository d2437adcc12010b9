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

/**
 * A free loopback port in [low, high): the Temporal server keeps membership ports in a
 * smallint column, so they must sit below 32768, under the kernel's ephemeral range.
 */
export async function freePortBetween(low: number, high: number): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const candidate = low + Math.floor(Math.random() * (high - low));
    if ((await freePort(candidate)) === candidate) return candidate;
  }
  throw new Error(`no free port between ${low} and ${high}`);
}
