// STUB — to be built.
import { Page } from "../../components/Page.tsx";

export default function MissionControlPage() {
  return <Page title="MissionControlPage">{null}</Page>;
}
