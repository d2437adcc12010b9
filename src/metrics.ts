import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Database } from './db/schema.js';

/**
 * What a Prometheus server scrapes from `GET /metrics`: this process's HTTP traffic and
 * Node runtime, and the state of the work in the database (conversions by status and
 * format, jobs by status, deliveries by status: queue depths among them), read at each
 * scrape so every API process answers the same.
 */
export class KilnMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;

  constructor(db: Kysely<Database>) {
    collectDefaultMetrics({ register: this.registry, prefix: 'kiln_' });
    this.httpRequests = new Counter({
      name: 'kiln_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.httpDuration = new Histogram({
      name: 'kiln_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by method and route pattern',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    new Gauge({
      name: 'kiln_conversions',
      help: 'Conversions in the database, by status and output format (queued and running: the work waiting and under way)',
      labelNames: ['status', 'format'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const rows = await db
          .selectFrom('conversions')
          .select(['status', sql<string>`options->>'output_format'`.as('format'), (eb) => eb.fn.countAll<string>().as('n')])
          .groupBy(['status', sql`options->>'output_format'`])
          .execute();
        for (const row of rows) this.set({ status: row.status, format: row.format }, Number(row.n));
      },
    });
    new Gauge({
      name: 'kiln_jobs',
      help: 'Jobs in the database, by status',
      labelNames: ['status'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const rows = await db
          .selectFrom('jobs')
          .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
          .groupBy('status')
          .execute();
        for (const row of rows) this.set({ status: row.status }, Number(row.n));
      },
    });
    new Gauge({
      name: 'kiln_deliveries',
      help: 'Webhook deliveries in the database, by status (pending: waiting for an attempt or a retry)',
      labelNames: ['status'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const rows = await db
          .selectFrom('deliveries')
          .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
          .groupBy('status')
          .execute();
        for (const row of rows) this.set({ status: row.status }, Number(row.n));
      },
    });
  }
}
