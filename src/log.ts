/**
 * Plain one-line messages on stderr, prefixed with the program name, so that
 * systemd's journal, `docker logs` and a terminal all read well.
 */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
}

export function createLogger(program: string, debug = false): Logger {
  const write = (level: string, message: string) =>
    process.stderr.write(`${program}: ${level}${message}\n`);
  return {
    info: (message) => write('', message),
    warn: (message) => write('warning: ', message),
    error: (message) => write('error: ', message),
    debug: (message) => {
      if (debug) write('debug: ', message);
    },
  };
}
