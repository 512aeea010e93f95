// STUB — to be built.
import { Page } from "../../components/Page.tsx";

export default function ProbeDetailPage() {
  return <Page title="ProbeDetailPage">{null}</Page>;
}
