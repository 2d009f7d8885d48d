import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The package's version, read from package.json (one directory above dist/ and src/). */
export const VERSION: string = (
  JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;
