import type { Kysely } from 'kysely';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Database } from './db/schema.js';
import { countByStatus, countConversionsByStatusAndFormat } from './db/stats.js';
import { activeConversionsByAccount } from './db/usage.js';

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
    this.countGauge(
      'kiln_conversions',
      'Conversions in the database, by status and output format (queued and running: the work waiting and under way)',
      ['status', 'format'],
      () => countConversionsByStatusAndFormat(db),
    );
    this.countGauge(
      'kiln_account_conversions_active',
      'Conversions queued or converting, by account: the queue depth each account holds (its conversions_active quota counts the same)',
      ['account'],
      () => activeConversionsByAccount(db),
    );
    this.countGauge('kiln_jobs', 'Jobs in the database, by status', ['status'], () => countByStatus(db, 'jobs'));
    this.countGauge('kiln_deliveries', 'Webhook deliveries in the database, by status (pending: waiting for an attempt or a retry)', ['status'], () =>
      countByStatus(db, 'deliveries'),
    );
  }

  /** A gauge set afresh at each scrape from `read`: a series per row it answers, none left over from the last scrape. */
  private countGauge<L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    read: () => Promise<Array<{ labels: Record<L, string>; count: number }>>,
  ): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        const rows = await read();
        this.reset();
        for (const row of rows) this.set(row.labels, row.count);
      },
    });
  }
}
