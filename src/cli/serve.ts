import type { Command } from './command.js';

/** `criguard serve`: runs the CRI proxy. (Being built in issue 2.) */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the CRI proxy between the kubelet and containerd',
  usage: 'Usage: criguard serve [--listen PATH] [--upstream PATH] [--config FILE]',
  run() {
    return Promise.resolve(1);
  },
};
