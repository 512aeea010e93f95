import { RoleSchema } from "@probepilot/shared";
import type { CommandContext } from "../command.ts";
import { UsageError } from "../command.ts";
import { renderTable, ago } from "../table.ts";
import { parseDurationSec } from "../duration.ts";

/** `tokens create --role R [--name N] [--expires-in 30d]` (`--expires` is the same flag) */
export async function tokensCreate(ctx: CommandContext): Promise<void> {
  const role = RoleSchema.safeParse(ctx.flags.role);
  if (!role.success) throw new UsageError(`--role must be one of viewer, operator, admin${ctx.flags.role ? ` (got "${ctx.flags.role}")` : ""}`);
  if (ctx.flags["expires-in"] && ctx.flags.expires) throw new UsageError("--expires and --expires-in are the same flag: give one");
  const expiresFlag = ctx.flags["expires-in"] ? "--expires-in" : "--expires";
  const expires = ctx.flags["expires-in"] ?? ctx.flags.expires;
  const expiresInSec = expires ? parseDurationSec(expires, expiresFlag) : undefined;
  const t = await ctx.api.tokens.create.mutate({ role: role.data, name: ctx.flags.name ?? "api", expiresInSec });
  if (ctx.json) return ctx.print(t);
  const expiry = t.expiresAt ? `, expires ${new Date(t.expiresAt).toISOString()}` : "";
  ctx.out(`created ${t.role} token ${t.id} (${t.name}${expiry}). It is shown once; store it now:\n${t.token}`);
}

/** `tokens list` */
export async function tokensList(ctx: CommandContext): Promise<void> {
  const tokens = await ctx.api.tokens.list.query();
  if (ctx.json) return ctx.print(tokens);
  const now = Date.now();
  const expires = (at: Date | string | null) => (at === null ? "never" : `${new Date(at).toISOString()}${new Date(at).getTime() <= now ? " (expired)" : ""}`);
  ctx.out(
    renderTable(
      ["ID", "NAME", "ROLE", "CREATED", "LAST USED", "EXPIRES", "REVOKED"],
      tokens.map((t) => [t.id, t.name, t.role, ago(t.createdAt), ago(t.lastUsedAt), expires(t.expiresAt), t.revokedAt ? ago(t.revokedAt) : "-"]),
    ),
  );
}

/** `tokens revoke ID` */
export async function tokensRevoke(ctx: CommandContext): Promise<void> {
  const id = ctx.requireArg(0, "token id");
  await ctx.api.tokens.revoke.mutate({ id });
  if (ctx.json) return ctx.print({ id, revoked: true });
  ctx.out(`revoked ${id}`);
}

/** `enroll-tokens create [--description D] [--expires-in 24h] [--max-uses N]` */
export async function enrollTokensCreate(ctx: CommandContext): Promise<void> {
  const expiresInSec = ctx.flags["expires-in"] ? parseDurationSec(ctx.flags["expires-in"], "--expires-in") : undefined;
  const maxUsesText = ctx.flags["max-uses"];
  const maxUses = maxUsesText === undefined ? undefined : Number(maxUsesText);
  if (maxUses !== undefined && (!Number.isInteger(maxUses) || maxUses < 1)) throw new UsageError(`--max-uses must be a whole number of at least 1 (got "${maxUsesText}")`);
  const t = await ctx.api.enrollTokens.create.mutate({ description: ctx.flags.description, expiresInSec, maxUses });
  if (ctx.json) return ctx.print(t);
  ctx.out(
    `created enrollment token ${t.id} (expires ${new Date(t.expiresAt).toISOString()}, enrolls at most ${t.maxUses} agents). It is shown once:\n${t.token}\n\n` +
      `enroll an agent with:\n  probepilot-agent --control-plane https://<control-plane>:7070 --nats tls://<nats-host>:4222 --ca ca.pem --enroll-token ${t.token}`,
  );
}

/** `enroll-tokens list` */
export async function enrollTokensList(ctx: CommandContext): Promise<void> {
  const tokens = await ctx.api.enrollTokens.list.query();
  if (ctx.json) return ctx.print(tokens);
  ctx.out(
    renderTable(
      ["ID", "DESCRIPTION", "USES", "CREATED", "EXPIRES", "REVOKED"],
      tokens.map((t) => [t.id, t.description || "-", t.maxUses === null ? String(t.uses) : `${t.uses}/${t.maxUses}`, ago(t.createdAt), t.expiresAt ? new Date(t.expiresAt).toISOString() : "never", t.revokedAt ? ago(t.revokedAt) : "-"]),
    ),
  );
}

/** `enroll-tokens revoke ID` */
export async function enrollTokensRevoke(ctx: CommandContext): Promise<void> {
  const id = ctx.requireArg(0, "enrollment token id");
  await ctx.api.enrollTokens.revoke.mutate({ id });
  if (ctx.json) return ctx.print({ id, revoked: true });
  ctx.out(`revoked ${id}`);
}
