import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { AddressGuard } from './address-guard.js';

/**
 * Outbound connections through the address guard, judged after DNS: webhook deliveries
 * and source fetches both connect this way.
 */

/** The error code of a connection the guard refused. */
export const BLOCKED_ADDRESS = 'KILN_BLOCKED_ADDRESS';

class BlockedAddressError extends Error {
  readonly code = BLOCKED_ADDRESS;
}

/**
 * A DNS lookup that refuses the whole name when any address it resolves to is refused,
 * so a name cannot smuggle a private address in beside a public one. Node calls it only
 * for names; literal IPs are judged before the request (AddressGuard.checkUrlLiteral).
 */
export function guardedLookup(guard: AddressGuard): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { all: true, family: options.family, hints: options.hints }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      for (const { address } of addresses) {
        const verdict = guard.check(address);
        if (!verdict.allowed) return callback(new BlockedAddressError(`${hostname} resolves to ${address}: ${verdict.reason}`), '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
      const [first] = addresses;
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
}

export type Agents = { 'http:': http.Agent; 'https:': https.Agent };
const agentsByGuard = new WeakMap<AddressGuard, Agents>();

/**
 * Kept-alive connections are pooled per guard: a socket one guard let through must never
 * be reused for a request judged by a stricter one.
 */
export function agentsFor(guard: AddressGuard): Agents {
  let agents = agentsByGuard.get(guard);
  if (!agents) {
    agents = { 'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }), 'https:': new https.Agent({ keepAlive: true, maxSockets: 64 }) };
    agentsByGuard.set(guard, agents);
  }
  return agents;
}
