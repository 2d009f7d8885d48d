import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const CLI = path.join(__dirname, '..', '..', 'dist', 'cli.js');

/** Runs the built CLI under another name (as npm's bin links do), to its end. */
export function runAs(name: string, args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'cte-bin-'));
  try {
    const program = path.join(dir, name);
    symlinkSync(CLI, program);
    return spawnSync(process.execPath, [program, ...args], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { PATH: process.env.PATH, ...env },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
