// With the `u` flag a paired surrogate is one code point: only unpaired halves match.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * What keeps `text` out of Postgres, or null: U+0000 (neither `text` nor `jsonb` can
 * hold it) and unpaired UTF-16 surrogates (`jsonb` refuses their `\ud800` escapes; they
 * cannot come from real UTF-8 text). Either would fail the query with a 500 instead of
 * being refused as input, so inputs that reach a query or a jsonb column check this.
 */
export function pgTextProblem(text: string): string | null {
  const nul = text.indexOf("\u0000");
  if (nul >= 0) return `must not contain a NUL character (U+0000), found at position ${nul}`;
  const lone = LONE_SURROGATE.exec(text);
  if (lone) return `must be well-formed Unicode (an unpaired surrogate at position ${lone.index})`;
  return null;
}
