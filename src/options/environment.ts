import { Setting } from './setting';

/**
 * The settings given as environment variables: PREFIX_LISTEN_PORT=9101
 * sets --listen-port. Every variable with the prefix is returned, known or
 * not, so that a misspelt one is refused instead of silently ignored.
 */
export function readEnvironment(env: NodeJS.ProcessEnv, prefix: string): Setting[] {
  const settings: Setting[] = [];
  for (const [variable, value] of Object.entries(env)) {
    if (!variable.startsWith(prefix) || value === undefined) continue;
    const name = variable.slice(prefix.length).toLowerCase().replace(/_/g, '-');
    settings.push({ name, value, origin: `environment variable ${variable}` });
  }
  return settings;
}

/** The variable that sets an option: listen-port -> PREFIX_LISTEN_PORT. */
export function variableFor(prefix: string, option: string): string {
  return `${prefix}${option.toUpperCase().replace(/[-.]/g, '_')}`;
}
