import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/schema.js';
import { startStrandedWork, type ReconcileOptions } from '../src/temporal/reconcile.js';

export interface ReconcileDependencies {
  db: Kysely<Database>;
  temporal: Client;
  options: ReconcileOptions;
}

export function createReconcileActivities({ db, temporal, options }: ReconcileDependencies) {
  return {
    /** Starts stranded conversions and deliveries; answers how many it started. */
    async startStrandedWork(): Promise<number> {
      return startStrandedWork(db, temporal, options);
    },
  };
}

export type ReconcileActivities = ReturnType<typeof createReconcileActivities>;
