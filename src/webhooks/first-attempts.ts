import type { Client } from '@temporalio/client';
import { finishDelivery, type DeliveryForAttempt } from '../db/deliveries.js';
import type { LogFunction } from '../log.js';
import { makeAttempt, type AttemptDependencies } from './attempt.js';
import { startDeliveryWorkflows } from './delivery-workflow.js';
import type { DeliveryDispatch, DeliverySettings } from './dispatch.js';

export interface FirstAttemptOptions {
  attempt: AttemptDependencies;
  client: Client;
  settings: DeliverySettings;
  /** First attempts in flight at once. */
  concurrency: number;
  /** Deliveries waiting for a slot; past this, new ones go to workflows at once. */
  maxWaiting: number;
  /**
   * How long a delivery may wait for a slot before it goes to a workflow instead. With the
   * request timeout it must end well inside the reconcile schedule's grace, so that the
   * schedule never starts a workflow for a first attempt still under way.
   */
  windowMs: number;
  log: LogFunction;
}

interface Waiting {
  deliveries: DeliveryForAttempt[];
  /** When the deliveries were handed over: the first attempt's scheduled time in the log. */
  dispatchedAt: Date;
  since: number;
}

/**
 * First attempts made in the worker process the moment an event is stored, without a
 * workflow: most deliveries succeed (or fail for good) on their first try, and for those
 * a workflow would only cost the Temporal server and this process far more than the
 * delivery itself (see bench/temporal-floor.bench.ts). A first attempt that fails with
 * retries left starts the delivery's workflow at its first wait, so every retry is a
 * Temporal retry, visible in the Web UI, exactly on the schedule.
 *
 * Nothing depends on this process surviving: a delivery is stored pending before it is
 * handed over here, and one this process never ends (it died, or the database or Temporal
 * failed under it) is started as a workflow by the reconcile schedule from where its log
 * says it stands (temporal/reconcile.ts). A burst beyond `maxWaiting`, or a delivery that
 * waited past `windowMs`, goes to a workflow instead.
 */
export class FirstAttempts implements DeliveryDispatch {
  private readonly waiting: Waiting[] = [];
  private waitingCount = 0;
  private inFlight = 0;
  /** Deliveries waiting or under way here, so a publisher retried by Temporal does not send one twice. */
  private readonly held = new Set<string>();
  private closed = false;
  private idle: Array<() => void> = [];

  constructor(private readonly options: FirstAttemptOptions) {}

  async dispatch(deliveries: DeliveryForAttempt[]): Promise<void> {
    const fresh = deliveries.filter(({ delivery: d }) => d.status === 'pending' && d.dispatched_at === null && !this.held.has(d.id));
    if (fresh.length === 0) return;
    if (this.closed || this.waitingCount + fresh.length > this.options.maxWaiting) {
      await this.toWorkflows(fresh);
      return;
    }
    for (const { delivery } of fresh) this.held.add(delivery.id);
    this.waiting.push({ deliveries: fresh, dispatchedAt: new Date(), since: performance.now() });
    this.waitingCount += fresh.length;
    this.pump();
  }

  /** Hands what still waits to workflows, and waits (at most `timeoutMs`) for the attempts under way. */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    const handedOver = this.waiting.splice(0);
    this.waitingCount = 0;
    await Promise.all(
      handedOver.map(async (group) => {
        await this.toWorkflowsOrLeave(group.deliveries);
        this.release(group);
      }),
    );
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private pump(): void {
    while (this.waiting.length > 0 && this.inFlight < this.options.concurrency) {
      const group = this.waiting.shift()!;
      const size = group.deliveries.length;
      this.waitingCount -= size;
      this.inFlight += size;
      void this.attemptGroup(group).finally(() => {
        this.inFlight -= size;
        this.release(group);
        this.pump();
      });
    }
  }

  private release(group: Waiting): void {
    for (const { delivery } of group.deliveries) this.held.delete(delivery.id);
    if (this.inFlight === 0 && this.waiting.length === 0) this.idle.splice(0).forEach((resolve) => resolve());
  }

  private async attemptGroup(group: Waiting): Promise<void> {
    if (this.closed || performance.now() - group.since > this.options.windowMs) return this.toWorkflowsOrLeave(group.deliveries);
    await Promise.all(group.deliveries.map((one) => this.attemptFirst(one, group.dispatchedAt)));
  }

  private async attemptFirst(one: DeliveryForAttempt, dispatchedAt: Date): Promise<void> {
    const { delivery } = one;
    try {
      const { requestTimeoutSeconds } = this.options.settings;
      const result = await makeAttempt(this.options.attempt, one, { trigger: 'scheduled', number: 1, requestTimeoutSeconds, scheduledAt: dispatchedAt });
      if (result.deliveryStatus !== 'pending') return;
      const { verdict } = result;
      if (verdict.kind === 'retry') {
        const now = new Date();
        const next = new Date(now.getTime() + verdict.delaySeconds * 1000);
        await startDeliveryWorkflows(
          this.options.client,
          this.options.attempt.db,
          [{ ...delivery, attempt_count: result.attempt, next_attempt_at: next }],
          requestTimeoutSeconds,
          now,
        );
      } else if (verdict.kind === 'give_up') {
        await finishDelivery(this.options.attempt.db, delivery.id, 'failed');
      }
    } catch (error) {
      this.options.log(`the first attempt of ${delivery.id} did not finish; the reconcile schedule will take it from its log`, error);
    }
  }

  private toWorkflows(deliveries: DeliveryForAttempt[]): Promise<void> {
    return startDeliveryWorkflows(
      this.options.client,
      this.options.attempt.db,
      deliveries.map((d) => d.delivery),
      this.options.settings.requestTimeoutSeconds,
    );
  }

  private async toWorkflowsOrLeave(deliveries: DeliveryForAttempt[]): Promise<void> {
    try {
      await this.toWorkflows(deliveries);
    } catch (error) {
      this.options.log(`could not start ${deliveries.length} delivery workflow(s) yet; the reconcile schedule will`, error);
    }
  }
}
