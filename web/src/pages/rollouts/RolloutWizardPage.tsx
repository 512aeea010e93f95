// STUB — to be built.
import { Page } from "../../components/Page.tsx";

export default function RolloutWizardPage() {
  return <Page title="RolloutWizardPage">{null}</Page>;
}
