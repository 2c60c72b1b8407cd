import type { Command } from './command.js';
import { serveCommand } from './serve.js';

/** Every subcommand, in the order `criguard --help` lists them. */
export const commands: readonly Command[] = [serveCommand];
