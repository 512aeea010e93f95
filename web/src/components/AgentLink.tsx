import { A } from "@solidjs/router";

/** A link to an agent's page, named by its hostname (its id when it has none), with the id in the tooltip. */
export function AgentLink(props: { id: string; hostname: string | null | undefined }) {
  return (
    <A href={`/agents/${props.id}`} title={props.id}>
      {props.hostname || props.id}
    </A>
  );
}
