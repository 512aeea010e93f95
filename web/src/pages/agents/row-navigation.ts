/** Keys that move the selected row of a list page, as shown in its hint line. */
export const ROW_KEYS = { next: ["j", "ArrowDown"], previous: ["k", "ArrowUp"], first: ["Home"], last: ["End"], open: ["Enter", "o"] } as const;

/**
 * Where a key moves the selection in a list of `count` rows: the new index, "open"
 * for the keys that open the selected row, or null for any other key (let it through).
 * With nothing selected (`current` -1, or past the end after a refresh shrank the
 * list), "next" selects the first row and "previous" the last; moves stop at the ends
 * rather than wrap, so holding `j` parks on the last row.
 */
export function rowKeyAction(key: string, current: number, count: number): number | "open" | null {
  const is = (keys: readonly string[]) => keys.includes(key);
  if (is(ROW_KEYS.open)) return current >= 0 && current < count ? "open" : null;
  if (count === 0) return null;
  const selected = current >= 0 && current < count;
  if (is(ROW_KEYS.next)) return selected ? Math.min(count - 1, current + 1) : 0;
  if (is(ROW_KEYS.previous)) return selected ? Math.max(0, current - 1) : count - 1;
  if (is(ROW_KEYS.first)) return 0;
  if (is(ROW_KEYS.last)) return count - 1;
  return null;
}
