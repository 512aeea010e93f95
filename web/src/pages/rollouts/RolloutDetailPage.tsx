// STUB — to be built.
import { Page } from "../../components/Page.tsx";

export default function RolloutDetailPage() {
  return <Page title="RolloutDetailPage">{null}</Page>;
}
