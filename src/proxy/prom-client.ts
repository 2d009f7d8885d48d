/**
 * prom-client's Registry, Counter and Gauge, loaded from their own modules.
 * The package entry also loads the Pushgateway (http, https, tls), cluster
 * aggregation and the default metrics: resident memory (BENCHMARKS.md has
 * the proxy's RSS) that a proxy holding thousands of idle connections under
 * a memory budget does not need. Types still come from the package entry.
 */
import type * as PromClient from 'prom-client';

/* eslint-disable @typescript-eslint/no-require-imports */
export const Registry: typeof PromClient.Registry = require('prom-client/lib/registry');
export const Counter: typeof PromClient.Counter = require('prom-client/lib/counter');
export const Gauge: typeof PromClient.Gauge = require('prom-client/lib/gauge');
/* eslint-enable @typescript-eslint/no-require-imports */

export type Registry = PromClient.Registry;
