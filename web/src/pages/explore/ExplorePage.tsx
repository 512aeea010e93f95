// STUB — to be built.
import { Page } from "../../components/Page.tsx";

export default function ExplorePage() {
  return <Page title="ExplorePage">{null}</Page>;
}
