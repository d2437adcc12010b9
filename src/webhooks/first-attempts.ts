import type { Client } from '@temporalio/client';
import { claimForFirstAttempt, findDeliveriesForAttempt, finishDelivery, type DeliveryForAttempt } from '../db/deliveries.js';
import { fanOutEvent } from '../events/publish.js';
import type { LogFunction } from '../log.js';
import type { RequestsUnderWay } from '../requests-under-way.js';
import { makeAttempt, type AttemptDependencies } from './attempt.js';
import { startDeliveryWorkflows } from './delivery-workflow.js';
import type { DeliveryDispatch, DeliverySettings } from './dispatch.js';
import { takeTurn, waitFor } from './throttle.js';

/** Deliveries waiting in all, as a multiple of one account's bound: past it, every account's go to workflows. */
const MAX_WAITING_ACCOUNTS = 4;

export interface FirstAttemptOptions {
  attempt: AttemptDependencies;
  client: Client;
  settings: DeliverySettings;
  /** First attempts in flight at once. */
  concurrency: number;
  /**
   * First attempts started while a request of this process's API is under way (those
   * already in flight go on). Sending and logging a delivery costs this process's thread
   * about 0.6 ms; a fan-out of hundreds at full concurrency made each upload wait behind
   * them at every turn of the event loop it took.
   */
  concurrencyWhileRequests: number;
  /** This process's API requests under way, which first attempts give way to. */
  requests: RequestsUnderWay;
  /** Deliveries of one account held in memory waiting for a slot; past this, its new ones wait in the database. */
  maxWaiting: number;
  /**
   * How long a delivery may wait for a slot before it goes to a workflow instead. With the
   * request timeout it must end well inside the reconcile schedule's grace, so that the
   * schedule never starts a workflow for a first attempt still under way.
   */
  windowMs: number;
  /** How long taking back a delivery left in the database keeps the reconcile schedule off it (its grace). */
  claimSeconds: number;
  log: LogFunction;
}

interface Waiting {
  one: DeliveryForAttempt;
  /** When the delivery was handed over: the first attempt's scheduled time in the log. */
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
 * Fair between accounts: each account's deliveries wait in a queue of its own, and free
 * slots take from the queues in turn, one delivery at a time, so an account that publishes
 * to hundreds of endpoints delays another's first attempt by one attempt per slot at most.
 * An account's deliveries beyond `maxWaiting` stay in the database (stored pending, as
 * every delivery is before it is handed over), their ids noted here, and are taken back in
 * turns as the account's queue drains: a burst of thousands costs memory for ids only and
 * nothing on the Temporal server. Taking one back claims it for `claimSeconds`, so the
 * reconcile schedule leaves it alone meanwhile; one this process never takes back (it
 * stopped or died) the reconcile schedule starts as a workflow after its grace.
 *
 * Nothing depends on this process surviving: a delivery is stored pending before it is
 * handed over here, and one this process never ends (it died, or the database or Temporal
 * failed under it) is started as a workflow by the reconcile schedule from where its log
 * says it stands (temporal/reconcile.ts). A delivery that waited past `windowMs`, or whose
 * throttled target gave it a later turn, goes to a workflow instead.
 */
export class FirstAttempts implements DeliveryDispatch {
  /** By account, in the order slots serve them: an account served moves to the back. */
  private readonly queues = new Map<string, Waiting[]>();
  private waitingCount = 0;
  private inFlight = 0;
  /** Deliveries waiting or under way here, so a publisher retried by Temporal does not send one twice. */
  private readonly held = new Set<string>();
  /** By account: ids of deliveries left in the database while its queue was full, oldest first. */
  private readonly leftInDatabase = new Map<string, string[]>();
  private readonly refilling = new Set<string>();
  /** Events whose deliveries are still to be planned, oldest first: planned one at a time, so a fan-out runs between other work. */
  private readonly owed: string[] = [];
  private fanningOut = false;
  private closed = false;
  private idle: Array<() => void> = [];

  constructor(private readonly options: FirstAttemptOptions) {
    options.requests.onQuiet(() => this.pump());
  }

  async dispatch(deliveries: DeliveryForAttempt[]): Promise<void> {
    const fresh = deliveries.filter(({ delivery: d }) => d.status === 'pending' && d.dispatched_at === null && !this.held.has(d.id));
    if (fresh.length === 0) return;
    if (this.closed) return this.toWorkflows(fresh);
    const dispatchedAt = new Date();
    const since = performance.now();
    for (const one of fresh) this.enqueue(one, dispatchedAt, since);
    this.pump();
  }

  fanOut(eventIds: string[]): void {
    // Once closed, the reconcile schedule plans them after its grace.
    if (this.closed) return;
    this.owed.push(...eventIds);
    if (!this.fanningOut) void this.fanOutOwed();
  }

  private async fanOutOwed(): Promise<void> {
    this.fanningOut = true;
    try {
      for (let eventId = this.owed.shift(); eventId !== undefined && !this.closed; eventId = this.owed.shift()) {
        try {
          await this.dispatch(await fanOutEvent(this.options.attempt.db, eventId, this.options.settings.defaultRetrySchedule));
        } catch (error) {
          this.options.log(`could not plan the deliveries of ${eventId}; the reconcile schedule will`, error);
        }
      }
    } finally {
      this.fanningOut = false;
    }
  }

  /**
   * Into the account's queue, or, when it (or this process) holds enough, left in the
   * database for later; one `takenBack` from there goes into the queue (it was taken to fit).
   */
  private enqueue(one: DeliveryForAttempt, dispatchedAt: Date, since: number, takenBack = false): void {
    const account = one.delivery.account_id;
    const queue = this.queues.get(account) ?? [];
    const left = this.leftInDatabase.get(account);
    // Behind those already left there: an account's deliveries keep their order.
    const full = queue.length >= this.options.maxWaiting || this.waitingCount >= MAX_WAITING_ACCOUNTS * this.options.maxWaiting;
    if (!takenBack && (left || full)) {
      if (left) left.push(one.delivery.id);
      else this.leftInDatabase.set(account, [one.delivery.id]);
      return;
    }
    if (queue.length === 0) this.queues.set(account, queue);
    queue.push({ one, dispatchedAt, since });
    this.held.add(one.delivery.id);
    this.waitingCount += 1;
  }

  /** Takes back, once the account's queue is down to half, as many of the account's deliveries left in the database as fit. */
  private refillWhereDrained(): void {
    for (const [account, ids] of this.leftInDatabase) {
      const waiting = this.queues.get(account)?.length ?? 0;
      if (this.closed || this.refilling.has(account) || waiting > this.options.maxWaiting / 2) continue;
      const taken = ids.splice(0, this.options.maxWaiting - waiting);
      if (ids.length === 0) this.leftInDatabase.delete(account);
      this.refilling.add(account);
      void this.refill(taken).finally(() => {
        this.refilling.delete(account);
        this.pump();
      });
    }
  }

  private async refill(ids: string[]): Promise<void> {
    const { db } = this.options.attempt;
    try {
      const claimed = await claimForFirstAttempt(db, ids, this.options.claimSeconds);
      const since = performance.now();
      for (const one of await findDeliveriesForAttempt(db, claimed)) {
        // Its first attempt was due when it was stored.
        if (one.delivery.status === 'pending' && !this.held.has(one.delivery.id)) this.enqueue(one, one.delivery.created_at, since, true);
      }
    } catch (error) {
      this.options.log(`could not take back ${ids.length} deliveries left waiting; the reconcile schedule will start them`, error);
    }
  }

  /** Hands what still waits to workflows, and waits (at most `timeoutMs`) for the attempts under way. */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    // Those left in the database stay there, and so do fan-outs owed: the reconcile schedule takes them after their grace.
    this.leftInDatabase.clear();
    this.owed.length = 0;
    const handedOver = [...this.queues.values()].flat();
    this.queues.clear();
    this.waitingCount = 0;
    await this.toWorkflowsOrLeave(handedOver.map((waiting) => waiting.one));
    for (const waiting of handedOver) this.release(waiting);
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The next delivery in turn: the first of the account served longest ago. */
  private next(): Waiting | undefined {
    for (const [account, queue] of this.queues) {
      this.queues.delete(account);
      const waiting = queue.shift();
      if (queue.length > 0) this.queues.set(account, queue);
      if (waiting) return waiting;
    }
    return undefined;
  }

  private pump(): void {
    const { concurrency, concurrencyWhileRequests, requests } = this.options;
    const slots = requests.busy ? Math.min(concurrency, concurrencyWhileRequests) : concurrency;
    while (this.waitingCount > 0 && this.inFlight < slots) {
      const waiting = this.next();
      if (!waiting) break;
      this.waitingCount -= 1;
      this.inFlight += 1;
      void this.attemptWaiting(waiting).finally(() => {
        this.inFlight -= 1;
        this.release(waiting);
        this.pump();
      });
    }
    this.refillWhereDrained();
  }

  private release(waiting: Waiting): void {
    this.held.delete(waiting.one.delivery.id);
    if (this.inFlight === 0 && this.waitingCount === 0) this.idle.splice(0).forEach((resolve) => resolve());
  }

  private async attemptWaiting(waiting: Waiting): Promise<void> {
    if (this.closed || performance.now() - waiting.since > this.options.windowMs) return this.toWorkflowsOrLeave([waiting.one]);
    await this.attemptFirst(waiting.one, waiting.dispatchedAt);
  }

  private async attemptFirst(one: DeliveryForAttempt, dispatchedAt: Date): Promise<void> {
    const { delivery } = one;
    try {
      const { requestTimeoutSeconds } = this.options.settings;
      const turn = await takeTurn(this.options.attempt.db, one, new Date());
      if (waitFor(turn) > 0) {
        // Its target is throttled: the workflow waits for the turn on a durable timer.
        await startDeliveryWorkflows(this.options.client, this.options.attempt.db, [{ ...delivery, next_attempt_at: turn }], requestTimeoutSeconds);
        return;
      }
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
    if (deliveries.length === 0) return;
    try {
      await this.toWorkflows(deliveries);
    } catch (error) {
      this.options.log(`could not start ${deliveries.length} delivery workflow(s) yet; the reconcile schedule will`, error);
    }
  }
}
