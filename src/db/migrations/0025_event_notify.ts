import { sql, type Kysely } from 'kysely';

// Frozen in time: this migration imports nothing from the application.
// Every stored event notifies channel kiln_events, at commit, with its account, type and
// subject separated by spaces: a held request (Prefer: wait, ?wait=) or an open event
// stream in any process wakes at once instead of finding the event on its next look, and
// a wait for one conversion's end wakes for that alone.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function kiln_event_stored() returns trigger language plpgsql as $$
    begin
      perform pg_notify('kiln_events', new.account_id || ' ' || new.type || ' ' || new.subject_id);
      return null;
    end
    $$`.execute(db);
  await sql`create trigger events_notify after insert on events for each row execute function kiln_event_stored()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger events_notify on events`.execute(db);
  await sql`drop function kiln_event_stored()`.execute(db);
}
