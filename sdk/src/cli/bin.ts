#!/usr/bin/env node
import { runCliProcess } from './main.js';

runCliProcess();
