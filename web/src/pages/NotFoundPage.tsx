import { A, useLocation } from "@solidjs/router";
import { Page } from "../components/Page.tsx";
import { Empty } from "../components/StateViews.tsx";

export function NotFoundPage() {
  const location = useLocation();
  return (
    <Page title="Not found">
      <Empty title={`Nothing lives at ${location.pathname}`}>
        Go to <A href="/">Mission Control</A>, or pick a section on the left.
      </Empty>
    </Page>
  );
}
