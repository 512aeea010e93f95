/**
 * Error messages quote what the caller sent so that they can see what was wrong;
 * they must not send a megabyte back. These keep the first `max` characters and
 * say how long the whole was.
 */

/**
 * Characters of caller input an error message quotes at most: more than the
 * longest valid label key (253 + 1 + 63 = 317), so any input of a sensible size is
 * quoted whole and only absurd input is cut.
 */
export const ECHO_MAX_CHARS = 320;

function head(text: string, max: number): string {
  let cut = text.slice(0, max);
  // Never split a surrogate pair.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return cut;
}

/** `text` itself when short, else `first max characters… (N characters)`. */
export function clipForMessage(text: string, max = ECHO_MAX_CHARS): string {
  return text.length <= max ? text : `${head(text, max)}… (${text.length} characters)`;
}

/** `JSON.stringify(text)` when short, else the quoted first `max` characters then `… (N characters)`. */
export function quoteForMessage(text: string, max = ECHO_MAX_CHARS): string {
  return text.length <= max ? JSON.stringify(text) : `${JSON.stringify(head(text, max))}… (${text.length} characters)`;
}
