/** What Postgres said: its SQLSTATE `code`, and for a unique violation the index it hit. */
export type PgError = { code: string; constraint_name?: string; message: string };

/**
 * The Postgres error behind `err`: drizzle wraps the driver's error in `cause`
 * (DrizzleQueryError); postgres.js throws it bare. Null for anything else.
 */
export function pgError(err: unknown): PgError | null {
  const inner = (err as { cause?: unknown } | null)?.cause ?? err;
  const code = (inner as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? (inner as PgError) : null;
}

/** SQLSTATE 23505: a unique index (`index`, when given) refused the row. */
export const isUniqueViolation = (err: unknown, index?: string) => {
  const pg = pgError(err);
  return pg?.code === "23505" && (index === undefined || pg.constraint_name === index);
};
