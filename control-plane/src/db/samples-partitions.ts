import type postgres from "postgres";

export const DAY_MS = 24 * 3600 * 1000;

/** Name of the daily partition holding `dayStartMs` (UTC), e.g. `samples_20261126`. */
export function partitionName(dayStartMs: number): string {
  return `samples_${new Date(dayStartMs).toISOString().slice(0, 10).replaceAll("-", "")}`;
}

export const dayStart = (ts: number) => ts - (((ts % DAY_MS) + DAY_MS) % DAY_MS);

/**
 * Create the daily partitions of `samples` covering [fromMs, toMs] if missing.
 * Idempotent and safe to race (a concurrent creator's table counts as created).
 */
export async function ensureSamplePartitions(sql: postgres.Sql, fromMs: number, toMs: number): Promise<string[]> {
  const created: string[] = [];
  for (let day = dayStart(fromMs); day <= toMs; day += DAY_MS) {
    const name = partitionName(day);
    await sql.unsafe(`create table if not exists "${name}" partition of samples for values from (${day}) to (${day + DAY_MS})`).catch((error: { code?: string }) => {
      // Two creators racing: "if not exists" does not serialize them; the loser sees the winner's table.
      if (error.code !== "42P07" && error.code !== "23505") throw error;
    });
    created.push(name);
  }
  return created;
}

/** Drop the daily partitions that end before `beforeMs` (retention). Returns their names. */
export async function dropSamplePartitionsBefore(sql: postgres.Sql, beforeMs: number): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select c.relname as name from pg_inherits i
    join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
    where p.relname = 'samples' and c.relname ~ '^samples_[0-9]{8}$'`;
  const dropped: string[] = [];
  for (const { name } of rows) {
    const y = Number(name.slice(8, 12));
    const m = Number(name.slice(12, 14));
    const d = Number(name.slice(14, 16));
    const end = Date.UTC(y, m - 1, d) + DAY_MS;
    if (end <= beforeMs) {
      await sql.unsafe(`drop table if exists "${name}"`);
      dropped.push(name);
    }
  }
  return dropped;
}
