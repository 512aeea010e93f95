/** A coloured state word (agent status, rollout state, probe state…); the colour comes from `data-state`. */
export function StateBadge(props: { state: string; title?: string }) {
  return (
    <span class="badge" data-state={props.state} title={props.title}>
      {props.state.replaceAll("_", " ")}
    </span>
  );
}

/** A horizontal bar of parts (e.g. verified / applying / failed / pending agents of a wave). */
export function ProgressBar(props: { parts: { value: number; state: string; label: string }[]; total: number; label: string }) {
  return (
    <div class="progress" role="img" aria-label={`${props.label}: ${props.parts.map((p) => `${p.value} ${p.label}`).join(", ")} of ${props.total}`}>
      {props.parts
        .filter((p) => p.value > 0)
        .map((p) => (
          <span class="progress-part" data-state={p.state} style={{ width: `${props.total ? (100 * p.value) / props.total : 0}%` }} title={`${p.value} ${p.label}`} />
        ))}
    </div>
  );
}
