import net from 'node:net';

/**
 * Ports handed out when any will do: below the kernel's ephemeral range (32768 and up on
 * Linux), where the local ends of outgoing connections are taken. A port picked there can
 * be claimed by some connection between the check and the listen; below it, only by
 * another listener. Also under 32768 because the Temporal server keeps membership ports in
 * a smallint column.
 */
const ANY_PORT_FROM = 20_000;
const ANY_PORT_BELOW = 32_000;

/** True when nothing listens on loopback `port` now. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A loopback port nothing listens on now: `wanted` if given and free (else 0), or any free one. */
export async function freePort(wanted?: number): Promise<number> {
  if (wanted !== undefined) return (await isFree(wanted)) ? wanted : 0;
  return freePortBetween(ANY_PORT_FROM, ANY_PORT_BELOW);
}

/** A free loopback port in [low, high), tried at random. */
async function freePortBetween(low: number, high: number): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const candidate = low + Math.floor(Math.random() * (high - low));
    if (await isFree(candidate)) return candidate;
  }
  throw new Error(`no free port between ${low} and ${high}`);
}
