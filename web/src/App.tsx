import { Router, Route, Navigate, useLocation, useNavigate, A, type RouteSectionProps } from "@solidjs/router";
import { Show, createEffect, lazy, onCleanup, onMount, type JSX } from "solid-js";
import { api } from "./api/client.ts";
import { session } from "./api/session.ts";
import { SignInPage } from "./pages/SignInPage.tsx";
import { NotFoundPage } from "./pages/NotFoundPage.tsx";
import { installShortcuts, SHORTCUTS } from "./lib/shortcuts.ts";
import { shortActor } from "./lib/format.ts";

// Each section is its own chunk: the first paint needs only the shell and the page it opens.
const MissionControlPage = lazy(() => import("./pages/mission-control/MissionControlPage.tsx"));
const AgentsPage = lazy(() => import("./pages/agents/AgentsPage.tsx"));
const AgentDetailPage = lazy(() => import("./pages/agents/AgentDetailPage.tsx"));
const ProbesPage = lazy(() => import("./pages/probes/ProbesPage.tsx"));
const ProbeDetailPage = lazy(() => import("./pages/probes/ProbeDetailPage.tsx"));
const RolloutsPage = lazy(() => import("./pages/rollouts/RolloutsPage.tsx"));
const RolloutWizardPage = lazy(() => import("./pages/rollouts/RolloutWizardPage.tsx"));
const RolloutDetailPage = lazy(() => import("./pages/rollouts/RolloutDetailPage.tsx"));
const ExplorePage = lazy(() => import("./pages/explore/ExplorePage.tsx"));

const NAV = [
  { href: "/", label: "Mission Control", key: "m", end: true },
  { href: "/agents", label: "Agents", key: "a" },
  { href: "/probes", label: "Probes", key: "p" },
  { href: "/rollouts", label: "Rollouts", key: "r" },
  { href: "/explore", label: "Explore", key: "e" },
];

/** The app: every route but the sign-in page needs a token. */
export function App() {
  return (
    <Router root={Shell}>
      <Route path="/sign-in" component={SignInPage} />
      <Route path="/" component={RequireSession}>
        <Route path="/" component={MissionControlPage} />
        <Route path="/agents" component={AgentsPage} />
        <Route path="/agents/:id" component={AgentDetailPage} />
        <Route path="/probes" component={ProbesPage} />
        <Route path="/probes/:name" component={ProbeDetailPage} />
        <Route path="/rollouts" component={RolloutsPage} />
        <Route path="/rollouts/new" component={RolloutWizardPage} />
        <Route path="/rollouts/:id" component={RolloutDetailPage} />
        <Route path="/explore" component={ExplorePage} />
        <Route path="*404" component={NotFoundPage} />
      </Route>
    </Router>
  );
}

function RequireSession(props: RouteSectionProps): JSX.Element {
  const location = useLocation();
  // A reload keeps the token (localStorage) but not who it belongs to: ask once.
  createEffect(() => {
    if (session.token() && !session.principal()) void api.system.whoami.query().then(session.setPrincipal, () => {});
  });
  return (
    <Show when={session.token()} fallback={<Navigate href={`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`} />}>
      {props.children}
    </Show>
  );
}

function Shell(props: RouteSectionProps) {
  const navigate = useNavigate();
  const location = useLocation();
  onMount(() => {
    const uninstall = installShortcuts({
      go: (key) => {
        const item = NAV.find((n) => n.key === key);
        if (item) navigate(item.href);
      },
    });
    onCleanup(uninstall);
  });
  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <Show when={session.token() && location.pathname !== "/sign-in"}>
        <nav class="sidebar" aria-label="Main">
          <A href="/" class="brand" end>
            <img src="/favicon.svg" alt="" width="22" height="22" /> ProbePilot
          </A>
          <ul>
            {NAV.map((item) => (
              <li>
                <A href={item.href} end={item.end} activeClass="active" aria-keyshortcuts={`g ${item.key}`} title={`g then ${item.key}`}>
                  {item.label}
                </A>
              </li>
            ))}
          </ul>
          <div class="sidebar-footer">
            <Show when={session.principal()}>{(p) => <div class="who" title={`${p().actor}, tenant ${p().tenantId}`}>{shortActor(p().actor)} · {p().role}</div>}</Show>
            <button type="button" class="btn btn-small btn-ghost" onClick={() => (session.signOut(), navigate("/sign-in"))}>
              Sign out
            </button>
            <details class="shortcuts">
              <summary>Keyboard shortcuts</summary>
              <dl>
                {SHORTCUTS.map((s) => (
                  <>
                    <dt>
                      <kbd>{s.keys}</kbd>
                    </dt>
                    <dd>{s.what}</dd>
                  </>
                ))}
              </dl>
            </details>
          </div>
        </nav>
      </Show>
      <main id="main" tabindex="-1">
        {props.children}
      </main>
    </div>
  );
}
