/**
 * The C++ conntrack_exporter's short flags (getopt_long), taken by the
 * `conntrack_exporter` command so that its command lines keep working.
 * -h is help on every command already.
 */
const VALUE_FLAGS: Readonly<Record<string, string>> = {
  l: 'listen-port',
  b: 'bind-address',
  p: 'listen-path',
  i: 'ignore-hosts',
  f: 'log-events-format',
};
const SWITCHES: Readonly<Record<string, string>> = { e: 'log-events', d: 'debug' };

/**
 * Spells the short flags out as long ones, as getopt reads them: `-l 9101`
 * and `-l9101`, switches bundled (`-ed`), a value flag last in a bundle
 * (`-dl 9101`). Anything else, and all after `--`, is left for the parser,
 * which names what it does not know.
 */
export function expandShortFlags(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === '--') {
      out.push(...args.slice(index));
      break;
    }
    if (!/^-[a-z]/.test(arg) || arg.startsWith('--')) {
      out.push(arg);
      continue;
    }
    const expanded: string[] = [];
    let known = true;
    for (let at = 1; at < arg.length; at++) {
      const letter = arg[at]!;
      const value = VALUE_FLAGS[letter];
      if (value !== undefined) {
        const rest = arg.slice(at + 1);
        expanded.push(`--${value}`);
        if (rest !== '') expanded.push(rest);
        else if (index + 1 < args.length) expanded.push(args[++index]!);
        break;
      }
      const switchName = SWITCHES[letter];
      if (switchName === undefined) {
        known = false;
        break;
      }
      expanded.push(`--${switchName}`);
    }
    out.push(...(known ? expanded : [arg]));
  }
  return out;
}
