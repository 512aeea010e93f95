// STUB — to be built.
import { Page } from "../../components/Page.tsx";

export default function AgentsPage() {
  return <Page title="AgentsPage">{null}</Page>;
}
