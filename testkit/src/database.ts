import postgres from "postgres";
import { randomBytes } from "node:crypto";

/** The server tests create their databases on (trust auth on this machine and in CI). */
export const ADMIN_DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export type TestDatabase = { url: string; name: string; drop: () => Promise<void> };

/** A fresh, empty database for one suite; `drop` removes it (forcing out leftover connections). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `pp_test_${randomBytes(6).toString("hex")}`;
  const admin = postgres(ADMIN_DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const conn = postgres(ADMIN_DATABASE_URL, { max: 1, onnotice: () => {} });
      await conn.unsafe(`drop database if exists ${name} with (force)`);
      await conn.end();
    },
  };
}
