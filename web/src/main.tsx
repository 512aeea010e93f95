// First: before @probepilot/shared builds its schemas (see zod-csp.ts).
import "./zod-csp.ts";
import { render } from "solid-js/web";
import "uplot/dist/uPlot.min.css";
import "./styles/theme.css";
import { App } from "./App.tsx";

render(() => <App />, document.getElementById("app")!);
