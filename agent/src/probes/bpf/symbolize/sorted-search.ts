/** Index of the last element ≤ `x` in an ascending array (a symbol table's start addresses), or -1 when all are above it. */
export function lastAtOrBelow<T extends number | bigint>(sorted: ArrayLike<T>, x: T): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= x) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}
