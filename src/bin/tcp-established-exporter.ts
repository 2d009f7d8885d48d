#!/usr/bin/env node
import { runLongtermDropIn } from '../longterm-drop-in';

void runLongtermDropIn(process.argv.slice(2));
