import type { PGlite } from '@electric-sql/pglite';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely';
import type { RequestsUnderWay } from '../requests-under-way.js';

class PGliteConnection implements DatabaseConnection {
  constructor(private readonly pglite: PGlite) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.pglite.query<R>(compiled.sql, compiled.parameters as unknown[]);
    const kind = compiled.query.kind;
    const changesRows = kind === 'InsertQueryNode' || kind === 'UpdateQueryNode' || kind === 'DeleteQueryNode' || kind === 'MergeQueryNode';
    return { rows: result.rows, numAffectedRows: changesRows && result.affectedRows !== undefined ? BigInt(result.affectedRows) : undefined };
  }

  /** Kiln never streams results, and the embedded database has no cursors to stream from. */
  streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('the embedded database does not stream query results');
  }
}

/** Whose statements these are: `background` work (webhook deliveries) yields its turn to the rest. */
export type SessionLane = 'foreground' | 'background';

/** Turns a background holder is given at least, as a share of all turns, while foreground work keeps waiting. */
const FOREGROUND_TURNS_PER_BACKGROUND_TURN = 4;
/**
 * While a request is under way, the thread is left to other work for this many times the
 * last background turn's length before the next one (so background statements take at
 * most a quarter of it), and never more than BACKGROUND_PAUSE_MAX_MS.
 */
const BACKGROUND_PAUSE_FACTOR = 3;
const BACKGROUND_PAUSE_MAX_MS = 50;

/**
 * PGlite runs one statement at a time, in this thread, and keeps one session, so its
 * single connection goes to one holder at a time: a transaction keeps every other
 * statement out until it ends, as a one-connection pool would.
 *
 * Holders are served by lane. Foreground holders go first, in arrival order. A background
 * holder is given the connection from a macrotask (`setImmediate`) of its own, so other
 * work's I/O callbacks run between two background turns. Handed over at once, a fan-out's
 * queued statements (hundreds of deliveries, each logging its attempt) ran one after the
 * other in a single microtask drain, and an upload waiting on its socket or its blob's
 * write waited for all of them: its answer took 16–30 times as long. While one of this
 * process's API requests is under way, background turns are paced as well: the next waits
 * three times as long as the last one took. Handed over one per macrotask, a fan-out's
 * statements still filled the thread, since a delivery keeps the database busy for about
 * 0.5 ms, and an upload waited about half a statement at each of its twenty or so turns of
 * the event loop. Background work is never starved: it is given a turn after at most four
 * foreground turns in a row, and paced turns end within BACKGROUND_PAUSE_MAX_MS.
 */
export class SessionGate {
  /** Who holds the connection, and since when; undefined while it is free. */
  private holder: { lane: SessionLane; since: number } | undefined;
  private lastBackgroundTurnMs = 0;
  private readonly foreground: Array<() => void> = [];
  private readonly background: Array<() => void> = [];
  private foregroundTurnsInARow = 0;
  private backgroundTurnScheduled = false;

  constructor(private readonly requests: RequestsUnderWay) {}

  async acquire(lane: SessionLane): Promise<void> {
    if (lane === 'foreground' && !this.holder) {
      this.take('foreground');
      return;
    }
    await new Promise<void>((resolve) => {
      this[lane].push(resolve);
      if (lane === 'background' && !this.holder) this.scheduleBackgroundTurn();
    });
  }

  private take(lane: SessionLane): void {
    this.holder = { lane, since: performance.now() };
  }

  release(): void {
    if (this.holder?.lane === 'background') this.lastBackgroundTurnMs = performance.now() - this.holder.since;
    const backgroundDue = this.background.length > 0 && this.foregroundTurnsInARow >= FOREGROUND_TURNS_PER_BACKGROUND_TURN;
    const next = backgroundDue ? this.background.shift() : this.foreground.shift();
    if (next) {
      this.foregroundTurnsInARow = backgroundDue ? 0 : this.foregroundTurnsInARow + 1;
      this.take(backgroundDue ? 'background' : 'foreground');
      next();
      return;
    }
    this.holder = undefined;
    this.foregroundTurnsInARow = 0;
    if (this.background.length > 0) this.scheduleBackgroundTurn();
  }

  private scheduleBackgroundTurn(): void {
    if (this.backgroundTurnScheduled) return;
    this.backgroundTurnScheduled = true;
    const turn = (): void => {
      this.backgroundTurnScheduled = false;
      if (this.holder) return;
      const next = this.background.shift();
      if (!next) return;
      this.take('background');
      next();
    };
    const pauseMs = this.requests.busy ? Math.min(BACKGROUND_PAUSE_MAX_MS, BACKGROUND_PAUSE_FACTOR * this.lastBackgroundTurnMs) : 0;
    if (pauseMs >= 1) setTimeout(turn, pauseMs);
    else setImmediate(turn);
  }
}

class PGliteDriver implements Driver {
  private readonly connection: PGliteConnection;

  constructor(
    pglite: PGlite,
    private readonly gate: SessionGate,
    private readonly lane: SessionLane,
  ) {
    this.connection = new PGliteConnection(pglite);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.gate.acquire(this.lane);
    return this.connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  releaseConnection(): Promise<void> {
    this.gate.release();
    return Promise.resolve();
  }

  async destroy(): Promise<void> {}
}

/**
 * Kysely straight onto PGlite, in this process: the same Postgres SQL as the server
 * dialect, without a wire protocol in between (which cost more CPU than the statements
 * themselves; see bench/). Values come back as the `pg` driver gives them for Kiln's
 * types: timestamps as Date, json as objects, int8 as number.
 */
export class PGliteDialect implements Dialect {
  /** Every dialect on the same PGlite must share its `gate`. */
  constructor(
    private readonly pglite: PGlite,
    private readonly gate: SessionGate,
    private readonly lane: SessionLane = 'foreground',
  ) {}

  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }

  createDriver(): Driver {
    return new PGliteDriver(this.pglite, this.gate, this.lane);
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
}
