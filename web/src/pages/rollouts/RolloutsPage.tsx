// STUB — to be built.
import { Page } from "../../components/Page.tsx";

export default function RolloutsPage() {
  return <Page title="RolloutsPage">{null}</Page>;
}
