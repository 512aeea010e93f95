import { For, Match, Switch } from "solid-js";
import { useSearchParams } from "@solidjs/router";
import { Page } from "../../components/Page.tsx";
import { TimePicker } from "../../components/TimePicker.tsx";
import { useTimeRange } from "../../lib/use-time-range.ts";
import { useUrlParam } from "../../lib/url-state.ts";
import { MetricsTab } from "./MetricsTab.tsx";
import { HistogramsTab } from "./HistogramsTab.tsx";
import { EventsTab } from "./EventsTab.tsx";
import { ProfileTab } from "./ProfileTab.tsx";
import "./explore.css";

const TABS = [
  { id: "metrics", label: "Metrics" },
  { id: "histograms", label: "Histograms" },
  { id: "events", label: "Events" },
  { id: "profile", label: "Profile" },
] as const;
type TabId = (typeof TABS)[number]["id"];

/**
 * Explore (/explore): any metric of the catalog charted over any agents, latency
 * histograms as heatmaps, the event log and CPU flamegraphs. Everything the page
 * shows is in the URL (`tab`, `selector`, the time range and each tab's own
 * parameters), so a view is a link to paste.
 */
export default function ExplorePage() {
  const [tabParam, setTab] = useUrlParam("tab", "metrics", { push: true });
  const tab = (): TabId => (TABS.some((t) => t.id === tabParam()) ? (tabParam() as TabId) : "metrics");
  const [range, setRange] = useTimeRange();
  // One agent selector for every tab: switching from a metric to the same agents' events keeps it.
  const [selector, setSelector] = useUrlParam("selector", "");
  const [, setParams] = useSearchParams();
  const tabButtons: HTMLButtonElement[] = [];

  const onTabKey = (e: KeyboardEvent) => {
    const i = TABS.findIndex((t) => t.id === tab());
    const next = e.key === "ArrowRight" ? (i + 1) % TABS.length : e.key === "ArrowLeft" ? (i - 1 + TABS.length) % TABS.length : e.key === "Home" ? 0 : e.key === "End" ? TABS.length - 1 : -1;
    if (next < 0) return;
    e.preventDefault();
    setTab(TABS[next]!.id);
    tabButtons[next]?.focus();
  };

  return (
    <Page title="Explore" subtitle="Any metric, latency histogram, event or CPU profile, over any agents and time range." actions={<TimePicker range={range()} onChange={setRange} />}>
      <div class="tabs" role="tablist" aria-label="Explore views" onKeyDown={onTabKey}>
        <For each={TABS}>
          {(t, i) => (
            <button
              ref={(el) => (tabButtons[i()] = el)}
              type="button"
              role="tab"
              id={`explore-tab-${t.id}`}
              class="tab"
              aria-selected={tab() === t.id}
              aria-controls={tab() === t.id ? `explore-panel-${t.id}` : undefined}
              tabindex={tab() === t.id ? 0 : -1}
              onClick={() => setTab(t.id)}
            >
              {t.label}
            </button>
          )}
        </For>
      </div>
      <div class="explore-panel" role="tabpanel" id={`explore-panel-${tab()}`} aria-labelledby={`explore-tab-${tab()}`}>
        <Switch>
          <Match when={tab() === "metrics"}>
            <MetricsTab range={range()} selector={selector()} onSelector={setSelector} onOpenHistogram={(metric) => setParams({ tab: "histograms", hist: metric })} />
          </Match>
          <Match when={tab() === "histograms"}>
            <HistogramsTab range={range()} selector={selector()} onSelector={setSelector} />
          </Match>
          <Match when={tab() === "events"}>
            <EventsTab range={range()} selector={selector()} onSelector={setSelector} />
          </Match>
          <Match when={tab() === "profile"}>
            <ProfileTab range={range()} selector={selector()} onSelector={setSelector} />
          </Match>
        </Switch>
      </div>
    </Page>
  );
}
