/** The app-wide keys, listed in the sidebar. Pages add their own (e.g. space on chart pages). */
export const SHORTCUTS: readonly { keys: string; what: string }[] = [
  { keys: "g m", what: "Mission Control" },
  { keys: "g a", what: "Agents" },
  { keys: "g p", what: "Probes" },
  { keys: "g r", what: "Rollouts" },
  { keys: "g e", what: "Explore" },
  { keys: "/", what: "Focus the page's search or selector field" },
  { keys: "Space", what: "Pause or resume live charts" },
  { keys: "Esc", what: "Leave a field" },
];

/** True when the key went to a text field (shortcuts must not steal typing). */
export function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

/**
 * `g` then a letter navigates; `/` focuses the first `[data-search]` field of
 * the page; Esc blurs a field. Returns the uninstaller.
 */
export function installShortcuts(actions: { go: (key: string) => void }): () => void {
  let pendingG = 0;
  const onKey = (e: KeyboardEvent) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (isTyping(e.target)) {
      if (e.key === "Escape") (e.target as HTMLElement).blur();
      return;
    }
    if (pendingG && Date.now() - pendingG < 1500) {
      pendingG = 0;
      actions.go(e.key);
      return;
    }
    if (e.key === "g") pendingG = Date.now();
    else if (e.key === "/") {
      const field = document.querySelector<HTMLElement>("[data-search]");
      if (field) (e.preventDefault(), field.focus());
    }
  };
  window.addEventListener("keydown", onKey);
  return () => window.removeEventListener("keydown", onKey);
}
