import type { CommandContext } from "../command.ts";
import { UsageError } from "../command.ts";
import { createApiClient } from "../client.ts";
import { saveLogin } from "../credentials.ts";

/** `login --token T [--url U]`: check the token against the control plane, then save both (mode 0600). */
export async function login(ctx: CommandContext): Promise<void> {
  const token = ctx.flags.token;
  if (!token) throw new UsageError("login needs --token (for example --token $(cat .probepilot/admin-token))");
  const me = await createApiClient(ctx.url, token).system.whoami.query();
  const file = await saveLogin(ctx.env, { url: ctx.url, token });
  if (ctx.json) return ctx.print({ ...me, url: ctx.url, savedTo: file });
  ctx.out(`logged in to ${ctx.url} as ${me.actor} (${me.role}, tenant ${me.tenantId}); saved to ${file}`);
}

/** `whoami` */
export async function whoami(ctx: CommandContext): Promise<void> {
  const me = await ctx.api.system.whoami.query();
  if (ctx.json) return ctx.print(me);
  ctx.out(`${me.actor}: ${me.role} in tenant ${me.tenantId} at ${ctx.url}`);
}
