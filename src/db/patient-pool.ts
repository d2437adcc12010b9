import type pg from 'pg';
import type { PostgresPool, PostgresPoolClient } from 'kysely';

/** How long a query waits for the database to take connections again (a restart, a failover) before it fails. */
export const DEFAULT_CONNECT_PATIENCE_MS = 30_000;

/**
 * Errors that mean no connection could be made: the server is down, restarting or not yet
 * accepting. Nothing was sent, so trying again cannot run a statement twice.
 */
function isUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: string; message?: string };
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'].includes(code ?? '') ||
    // cannot_connect_now (starting up, shutting down), admin_shutdown, connection exceptions.
    ['57P03', '57P01', '08000', '08001', '08003', '08004', '08006'].includes(code ?? '') ||
    /Connection terminated/i.test(message ?? '')
  );
}

/**
 * The pool Kysely uses, asking `pool` for a connection again (250 ms, doubling to 2 s) while
 * the database is unreachable, for up to `patienceMs`. A query made while Postgres restarts
 * thus waits for it instead of failing the activity or request that made it, and never runs
 * twice: only the connection is retried, never a statement.
 */
export function patientPool(pool: pg.Pool, patienceMs = DEFAULT_CONNECT_PATIENCE_MS): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      const deadline = Date.now() + patienceMs;
      for (let waitMs = 250; ; waitMs = Math.min(2 * waitMs, 2000)) {
        try {
          return heardWhileCheckedOut(await pool.connect());
        } catch (error) {
          const remaining = deadline - Date.now();
          if (!isUnavailable(error) || remaining <= 0) throw error;
          await new Promise((resolve) => setTimeout(resolve, Math.min(waitMs, remaining)));
        }
      }
    },
    end: () => pool.end(),
  };
}

/**
 * pg's pool hears a connection's errors only while it sits idle. A server that ends a
 * connection between two statements of a transaction (a restart, `pg_terminate_backend`)
 * would otherwise emit an error nobody hears, and crash the process. Heard here, the
 * connection is left unusable: the transaction's next statement fails, and the pool
 * drops the connection when it comes back.
 */
function heardWhileCheckedOut(client: pg.PoolClient): pg.PoolClient {
  const ignore = (): void => undefined;
  client.on('error', ignore);
  const release = client.release.bind(client);
  client.release = (error?: Error | boolean) => {
    client.removeListener('error', ignore);
    release(error);
  };
  return client;
}
