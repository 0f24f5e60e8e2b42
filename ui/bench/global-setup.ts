// The e2e tests' global setup (a relay, and a demo device the benchmark does
// not use), after clearing an earlier run's figures.

import e2eGlobalSetup from '../e2e/global-setup';
import { clearResults } from './report';

export default async function globalSetup(): Promise<void> {
  clearResults();
  await e2eGlobalSetup();
}
