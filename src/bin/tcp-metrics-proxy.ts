#!/usr/bin/env node
// Drop-in for the Go tcp-metrics-proxy: same flags, same metric names.
import { runDropIn } from '../proxy/drop-in';

void runDropIn(process.argv.slice(2));
