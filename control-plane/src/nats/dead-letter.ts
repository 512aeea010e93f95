import { headers, type JetStreamClient, type JsMsg } from "nats";
import { DEAD_LETTER_ORIGINAL_SUBJECT_HEADER, DEAD_LETTER_REASON_HEADER, deadLetterSubject } from "@probepilot/shared";

/**
 * Move a poison message to the dead-letter stream with its reason and original
 * subject, then terminate it so it is never redelivered. If the dead-letter
 * publish itself fails the message is left un-acked and comes back later: a
 * poison message is never dropped without a trace.
 */
export async function deadLetter(js: JetStreamClient, source: "status" | "telemetry", msg: JsMsg, reason: string): Promise<void> {
  const h = headers();
  h.set(DEAD_LETTER_REASON_HEADER, reason.slice(0, 1024));
  h.set(DEAD_LETTER_ORIGINAL_SUBJECT_HEADER, msg.subject);
  await js.publish(deadLetterSubject(source), msg.data, { headers: h });
  msg.term();
}
