import { AgentHelloSchema, describeZodError, type AgentHello, type Labels } from "@probepilot/shared";
import { AGENT_VERSION } from "../version.ts";
import { detectCapabilities } from "./capabilities.ts";
import { hostLabels, readHostFacts } from "./host-facts.ts";

/** What this agent says about its host when it enrolls: facts, labels (host and user) and capabilities. */
export async function buildHello(userLabels: Labels): Promise<AgentHello> {
  const [facts, capabilities] = await Promise.all([readHostFacts(), detectCapabilities()]);
  const hello = AgentHelloSchema.safeParse({
    agentVersion: AGENT_VERSION,
    hostname: facts.hostname,
    os: facts.os,
    kernel: facts.kernel,
    arch: facts.arch,
    hostLabels: hostLabels(facts),
    userLabels,
    capabilities,
  });
  if (!hello.success) throw new Error(`cannot describe this host: ${describeZodError(hello.error)}`);
  return hello.data;
}
