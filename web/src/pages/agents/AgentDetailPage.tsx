// STUB — to be built.
import { Page } from "../../components/Page.tsx";

export default function AgentDetailPage() {
  return <Page title="AgentDetailPage">{null}</Page>;
}
