/**
 * Tests that need a real component this machine may lack (a Docker engine,
 * docker-compose, dnsmasq, Prometheus, promtool, systemd-analyze). Where it
 * is missing they are skipped with the reason, except under CI=true: there a
 * skipped test would count as passed, so it fails with the reason instead.
 */
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

const IN_CI = process.env.CI === 'true';

function failure(reason: string): Error {
  return new Error(`${reason} (CI=true: a test that cannot run its real component fails)`);
}

/**
 * In a test's body: skips it when `reason` names something missing, or
 * under CI=true throws. Returns whether the test must stop here.
 */
export function missingComponent(t: TestContext, reason: string | false | undefined): boolean {
  if (!reason) return false;
  if (IN_CI) throw failure(reason);
  t.skip(reason);
  return true;
}

/**
 * As a test's `skip` option, for a subtest defined inside another test's
 * body: under CI=true it throws there, failing the enclosing test.
 */
export function skipOption(reason: string | false): string | false {
  if (reason && IN_CI) throw failure(reason);
  return reason;
}

/** Why `program` cannot be run here (with how to install it), or false. */
export function missingProgram(program: string, install: string): string | false {
  const probe = spawnSync(program, ['--version'], { stdio: 'ignore' });
  return probe.error === undefined ? false : `${program} not installed (${install})`;
}
