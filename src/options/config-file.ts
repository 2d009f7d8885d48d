import { readFileSync } from 'node:fs';
import path from 'node:path';

import type * as Yaml from 'yaml';

import { UsageError } from '../errors';
import { kebabCase, Setting } from './setting';

/**
 * Reads a configuration file: JSON (.json), YAML (.yaml, .yml) or, for any
 * other name, the line format of the tools we replace: one `name value` (or
 * `name=value`) per line, `#` comments and blank lines ignored.
 * Every problem is a UsageError naming the file (and line).
 */
export function readConfigFile(file: string): Setting[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'no such file'
        : (error as Error).message;
    throw new UsageError(
      `cannot read config file ${file}: ${reason}; check the path given to --config`,
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
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

function parseYamlText(file: string, text: string): unknown {
  // Loaded only for a YAML file: the parser is 70 modules and several MB of
  // resident memory that every other run (the proxy above all) does without.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parse: parseYaml, YAMLParseError } = require('yaml') as typeof Yaml;
  try {
    return parseYaml(text);
  } catch (error) {
    const where =
      error instanceof YAMLParseError && error.linePos ? ` line ${error.linePos[0].line}` : '';
    throw new UsageError(
      `${file}${where} is not valid YAML: ${(error as Error).message.split('\n')[0]}`,
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
