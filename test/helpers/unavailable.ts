/**
 * A test that needs something this machine lacks (a tool, a prebuilt file,
 * a kernel feature) skips with the reason on a developer's machine; under
 * CI=true the same reason fails it, so a CI run never passes by skipping.
 */
import type { TestContext } from 'node:test';

export function unavailable(t: TestContext, reason: string): void {
  if (process.env.CI === 'true') throw new Error(`cannot run under CI: ${reason}`);
  t.skip(reason);
}
