// The e2e tests' global teardown (stop the relay and the bridge, remove the
// data directories), then the report: target/bench/queue.json and the table,
// also when a language failed (its figures were saved before its checks).

import e2eGlobalTeardown from '../e2e/global-teardown';
import { writeReport } from './report';

export default async function globalTeardown(): Promise<void> {
  try {
    await e2eGlobalTeardown();
  } finally {
    writeReport();
  }
}
