/** One option's value as a configuration source gave it, and where it was given. */
export interface Setting {
  /** The option's name as the user wrote it (normalised to kebab-case). */
  name: string;
  value: unknown;
  /** Where it was given, for error messages and --print-config: "app.conf line 3". */
  origin: string;
}

/** listen_port, listenPort, LISTEN_PORT and listen-port all name --listen-port. */
export function kebabCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/_/g, '-')
    .toLowerCase();
}
