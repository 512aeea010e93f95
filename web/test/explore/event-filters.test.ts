import { describe, expect, it } from "vitest";
import { attrText, formatAttrFilters, mergeEvents, parseAttrFilters, refreshEvents } from "../../src/pages/explore/event-filters.ts";

describe("parseAttrFilters", () => {
  it("reads typed values: numbers, booleans, null, bare and quoted text", () => {
    expect(parseAttrFilters(' comm=bash, pid = 42 ,argsTruncated=false, signal=null, path="/tmp/a, \\"b\\"", port="80"')).toEqual({
      ok: true,
      attrs: { comm: "bash", pid: 42, argsTruncated: false, signal: null, path: '/tmp/a, "b"', port: "80" },
    });
    expect(parseAttrFilters("")).toEqual({ ok: true, attrs: {} });
    expect(parseAttrFilters("   ")).toEqual({ ok: true, attrs: {} });
    expect(parseAttrFilters("ratio=-1.5e3, v=1.2.3")).toEqual({ ok: true, attrs: { ratio: -1500, v: "1.2.3" } });
  });

  it("says what is wrong and where", () => {
    expect(parseAttrFilters("comm")).toEqual({ ok: false, message: 'expected "=" and a value after "comm", e.g. comm=value', position: 4 });
    expect(parseAttrFilters("comm=bash,")).toMatchObject({ ok: false, message: "expected an attribute name after the comma, e.g. comm=bash", position: 10 });
    expect(parseAttrFilters("comm=")).toMatchObject({ ok: false, message: 'expected a value after "comm=" (quote an empty string: comm="")', position: 5 });
    expect(parseAttrFilters('path="/tmp')).toMatchObject({ ok: false, position: 5 });
    expect(parseAttrFilters('path="/tmp" x')).toMatchObject({ ok: false, message: 'expected "," between filters, found "x"', position: 12 });
    expect(parseAttrFilters("pid=1, pid=2")).toMatchObject({ ok: false, position: 7 });
    expect(parseAttrFilters("=1")).toMatchObject({ ok: false, message: 'expected an attribute name (letters, digits, _ . - / :), found "="', position: 0 });
    const many = Array.from({ length: 21 }, (_, i) => `k${i}=1`).join(",");
    expect(parseAttrFilters(many)).toMatchObject({ ok: false, message: "at most 20 attribute filters" });
  });

  it("writes filters back as text that reads the same", () => {
    const attrs = { comm: "bash", pid: 42, ok: true, none: null, path: "/a, b", num: "80", quote: 'say "hi"', spaced: " x", lead: '"q' };
    const text = formatAttrFilters(attrs);
    expect(text).toBe('comm=bash, pid=42, ok=true, none=null, path="/a, b", num="80", quote=say "hi", spaced=" x", lead="\\"q"');
    expect(parseAttrFilters(text)).toEqual({ ok: true, attrs });
  });

  it("shows values as text", () => {
    expect(attrText("bash")).toBe("bash");
    expect(attrText(42)).toBe("42");
    expect(attrText(null)).toBe("null");
    expect(attrText(undefined)).toBe("null");
  });
});

describe("merging pages of events", () => {
  const ev = (id: number, ts: number) => ({ id, ts });

  it("merges newest first by time then id, each event once", () => {
    expect(mergeEvents([ev(3, 30), ev(2, 20)], [ev(4, 30), ev(3, 30), ev(1, 10)])).toEqual([ev(4, 30), ev(3, 30), ev(2, 20), ev(1, 10)]);
  });

  it("keeps the older pages' cursor when a refresh overlaps what is shown", () => {
    const shown = { items: [ev(5, 50), ev(4, 40)], cursor: "c-old" };
    expect(refreshEvents(shown, { items: [ev(6, 60), ev(5, 50)], nextCursor: "c-fresh" })).toEqual({ items: [ev(6, 60), ev(5, 50), ev(4, 40)], cursor: "c-old" });
    // The fresh page is the whole remaining range (no cursor): nothing can be missing.
    expect(refreshEvents(shown, { items: [ev(9, 90)], nextCursor: null })).toEqual({ items: [ev(9, 90), ev(5, 50), ev(4, 40)], cursor: "c-old" });
  });

  it("restarts from the fresh page when more arrived than a page holds", () => {
    const shown = { items: [ev(5, 50), ev(4, 40)], cursor: "c-old" };
    expect(refreshEvents(shown, { items: [ev(9, 90), ev(8, 80)], nextCursor: "c-fresh" })).toEqual({ items: [ev(9, 90), ev(8, 80)], cursor: "c-fresh" });
    expect(refreshEvents({ items: [], cursor: null }, { items: [ev(1, 10)], nextCursor: "c" })).toEqual({ items: [ev(1, 10)], cursor: "c" });
  });
});
