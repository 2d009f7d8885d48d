/**
 * Errors a user can fix. The CLI prints their message as one line (no stack)
 * and exits with their exit code: 2 for bad input, 1 for the environment.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    // One line, always: a message may quote user input holding line breaks.
    super(message.replace(/\r?\n|\r/g, '\\n'));
    this.name = 'UserError';
  }
}

/** Bad command-line input, configuration or address: exit code 2. */
export class UsageError extends UserError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

/** The host is not ready: missing privileges, module, busy port. Exit code 1. */
export class EnvironmentError extends UserError {
  constructor(message: string) {
    super(message, 1);
    this.name = 'EnvironmentError';
  }
}

/**
 * Ends the process for an error from main(): one line for a UserError,
 * the stack for anything else (that is our bug, and the stack helps fix it).
 */
export function exitWithError(program: string, error: unknown): never {
  if (error instanceof UserError) {
    process.stderr.write(`${program}: ${error.message}\n`);
    process.exit(error.exitCode);
  }
  process.stderr.write(`${program}: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(70);
}
