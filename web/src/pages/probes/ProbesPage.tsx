// STUB — to be built.
import { Page } from "../../components/Page.tsx";

export default function ProbesPage() {
  return <Page title="ProbesPage">{null}</Page>;
}
