/** Default name of the records table; the lock table is named after it with `_locks`. */
export const DEFAULT_TABLE = 'refreshkit_tokens';

/**
 * The SQL that creates the store's tables, for teams that run their own
 * migrations (`store.migrate()` runs the same). Idempotent, and one
 * transaction when sent as one query.
 *
 * - `<table>`: one row per key. `version` is what every write compares and
 *   sets; `data` the encoded record (token set, encrypted when a key is
 *   configured, plus its schedule). `refresh_at` and `usable_until` repeat
 *   the schedule (NULL: never / unknown), and `sweep_at` the keep-alive due
 *   time, so a sweep is a range query on the `sweep_at` index (added by
 *   `ALTER TABLE` to tables made before it existed); `data` stays the
 *   source of truth.
 * - `<table>_locks`: one refresh lease per key being refreshed: `holder`
 *   is the holding process's random id, `expires_at` when another process
 *   may take it over (the holder renews it while it refreshes).
 *
 * The transaction-scoped advisory lock serialises concurrent migrations
 * (two `CREATE TABLE IF NOT EXISTS` at once can otherwise fail).
 *
 * @param table The records table, as given to `PostgresTokenStore`.
 */
export function postgresSchemaSql(table: string = DEFAULT_TABLE): string {
  return `SELECT pg_advisory_xact_lock(hashtext('refreshkit migrate ${table}'));
CREATE TABLE IF NOT EXISTS ${table} (
  key text PRIMARY KEY,
  version bigint NOT NULL,
  data text NOT NULL,
  refresh_at timestamptz,
  usable_until timestamptz,
  reauthentication_required boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ${table}_refresh_at_idx ON ${table} (refresh_at) WHERE NOT reauthentication_required;
ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS sweep_at timestamptz;
CREATE INDEX IF NOT EXISTS ${table}_sweep_at_idx ON ${table} (sweep_at) WHERE sweep_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS ${table}_locks (
  key text PRIMARY KEY,
  holder uuid NOT NULL,
  expires_at timestamptz NOT NULL
);
`;
}

/** {@link postgresSchemaSql} for the default table, `refreshkit_tokens`. */
export const POSTGRES_SCHEMA_SQL: string = postgresSchemaSql();
