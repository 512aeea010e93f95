import { Empty } from "../../components/StateViews.tsx";

/** The empty fleet: how agents get here (the same commands the README and the CLI give). */
export function NoAgentsHint() {
  return (
    <Empty title="No agent has enrolled yet">
      <ol class="hint-steps">
        <li>
          <code>npm start</code> runs a local agent on this machine; it shows up here within seconds.
        </li>
        <li>
          For another host, create an enrollment token: <code>pnpm probepilot enroll-tokens create --expires-in 24h</code> prints the command to run there (
          <code>probepilot-agent --nats nats://&lt;nats-host&gt;:4222 --enroll-token …</code>).
        </li>
        <li>
          To try rollouts on a fleet, simulate one: <code>node agent/bin/probepilot-agent.mjs simulate --agents 300 --enroll-token …</code> (docs/simulator.md).
        </li>
      </ol>
    </Empty>
  );
}
