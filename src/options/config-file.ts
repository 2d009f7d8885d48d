import path from 'node:path';

import type * as Yaml from 'yaml';

import { UsageError } from '../errors';
import { readRegularFile } from './regular-file';
import { kebabCase, Setting } from './setting';

/** Far above any real configuration; a file this large is a mistake. */
export const MAX_CONFIG_FILE_BYTES = 1 << 20;

/**
 * Reads a configuration file: JSON (.json), YAML (.yaml, .yml) or, for any
 * other name, the line format of the tools we replace: one `name value` (or
 * `name=value`) per line, `#` comments and blank lines ignored.
 * Every problem is a UsageError naming the file (and line); `flag` is the
 * option that named the file, as the program's users spell it.
 */
export function readConfigFile(file: string, flag = '--config'): Setting[] {
  let text: string;
  try {
    // A byte order mark, as some Windows editors write, is not part of the text.
    text = readRegularFile(file, MAX_CONFIG_FILE_BYTES)
      .toString('utf8')
      .replace(/^\uFEFF/, '');
  } catch (error) {
    throw new UsageError(
      `cannot read config file ${file}: ${(error as Error).message}; check the path given to ${flag}`,
    );
  }
  const extension = path.extname(file).toLowerCase();
  if (extension === '.json') return fromObject(file, parseJson(file, text));
  if (extension === '.yaml' || extension === '.yml')
    return fromObject(file, parseYamlText(file, text));
  return parseLines(file, text);
}

export function parseLines(file: string, text: string): Setting[] {
  const settings: Setting[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match =
      /^([A-Za-z][A-Za-z0-9_.-]*)(?:\s*=\s*|\s+)(.*)$/.exec(line) ??
      /^([A-Za-z][A-Za-z0-9_.-]*)$/.exec(line);
    if (!match) {
      throw new UsageError(`${file} line ${index + 1}: expected 'name value', got '${line}'`);
    }
    // A bare name is a flag switched on, as on the command line.
    const value = match[2] === undefined ? 'true' : unquote(match[2].trim());
    settings.push({ name: kebabCase(match[1]!), value, origin: `${file} line ${index + 1}` });
  });
  return settings;
}

function unquote(value: string): string {
  const quoted = /^"(.*)"$/.exec(value) ?? /^'(.*)'$/.exec(value);
  return quoted ? quoted[1]! : value;
}

function parseJson(file: string, text: string): unknown {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  const twice = repeatedTopLevelKey(text);
  if (twice !== undefined) {
    throw new UsageError(`${file} key '${twice}' is given twice; keep one of them`);
  }
  return data;
}

/**
 * A key written twice in the outermost object of valid JSON text, which
 * JSON.parse would resolve silently to the last. YAML's parser refuses
 * such keys itself.
 */
function repeatedTopLevelKey(text: string): string | undefined {
  const keys = new Set<string>();
  let depth = 0;
  const token = /"(?:[^"\\]|\\.)*"|[{}[\]]/g;
  const colon = /\s*:/y;
  for (let match = token.exec(text); match !== null; match = token.exec(text)) {
    const [found] = match;
    if (found === '{' || found === '[') depth++;
    else if (found === '}' || found === ']') depth--;
    else if (depth === 1) {
      // A string followed by a colon is a key; any other is a value.
      colon.lastIndex = token.lastIndex;
      if (!colon.test(text)) continue;
      const key = JSON.parse(found) as string;
      if (keys.has(key)) return key;
      keys.add(key);
    }
  }
  return undefined;
}

function parseYamlText(file: string, text: string): unknown {
  // Loaded only for a YAML file: the parser is 70 modules and several MB of
  // resident memory that every other run (the proxy above all) does without.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parseDocument, YAMLError } = require('yaml') as typeof Yaml;
  try {
    const document = parseDocument(text, { prettyErrors: true });
    // A warning (an unknown tag) would otherwise be printed on several lines
    // of its own, and the value it concerns used as a string.
    const [problem] = [...document.errors, ...document.warnings];
    if (problem !== undefined) throw problem;
    return document.toJS();
  } catch (error) {
    const where =
      error instanceof YAMLError && error.linePos ? ` line ${error.linePos[0].line}` : '';
    throw new UsageError(
      `${file}${where} is not valid YAML: ${(error as Error).message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
    );
  }
}

function fromObject(file: string, data: unknown): Setting[] {
  if (data === null || data === undefined) return [];
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new UsageError(`${file} must hold a mapping of option names to values`);
  }
  return Object.entries(data as Record<string, unknown>).map(([name, value]) => ({
    name: kebabCase(name),
    value,
    origin: `${file} key '${name}'`,
  }));
}
