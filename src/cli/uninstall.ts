import { InstallError } from '../install/errors.js';
import type { HostCommandRunner } from '../install/systemd.js';
import { uninstallCriguard } from '../install/uninstall.js';
import type { Command } from './command.js';
import { parseOptions } from './parse-options.js';
import { ExitCode } from './exit-codes.js';
import { formatReport, hostOptionSpecs, toHostOptions, toSystemctl } from './host-options.js';

const usage = `Usage: criguard uninstall --host-root DIR [options]

Removes criguard from a node, kubelet first: puts back the kubelet's original CRI endpoints, removes the
drop-in, restarts the kubelet (so it talks to containerd directly), then stops and removes criguard.
Running containers are not touched. See docs/operations.md ("Uninstall").

Options:
  --host-root DIR           the host's / (e.g. /host in a pod, / on the node itself)
  --purge                   also remove /etc/criguard, /var/lib/criguard and /var/log/criguard
  --host-exec MODE          nsenter (default unless --host-root is /), direct, or none (files only)
  --kubelet-config PATH     the kubelet's KubeletConfiguration on the host (default /var/lib/kubelet/config.yaml)
  --kubelet-flags-file PATH kubelet flag files to look at (repeatable)
  --json                    print the report as JSON`;

/** Creates the `uninstall` command; `runner` replaces the real host command runner (tests). */
export function createUninstallCommand(deps: { readonly runner?: HostCommandRunner } = {}): Command {
  return {
    name: 'uninstall',
    summary: "remove criguard from a node, restoring the kubelet's own CRI endpoints first",
    usage,
    async run(args, io) {
      const { values } = parseOptions(args, { ...hostOptionSpecs, purge: { type: 'boolean' } }, false);
      const host = toHostOptions(values);
      try {
        const report = await uninstallCriguard(
          {
            hostRoot: host.hostRoot,
            purge: values.purge ?? false,
            kubeletConfig: host.kubeletConfig,
            kubeletFlagFiles: host.kubeletFlagFiles,
          },
          { systemctl: toSystemctl(host.hostExec, deps.runner) },
        );
        io.stdout(host.json ? `${JSON.stringify(report)}\n` : formatReport('uninstall', report));
        return ExitCode.OK;
      } catch (err) {
        if (!(err instanceof InstallError)) throw err;
        io.stderr(`criguard uninstall: ${err.code}: ${err.message}\n`);
        return ExitCode.DENIED_OR_FAILED;
      }
    },
  };
}

/** `criguard uninstall`. */
export const uninstallCommand: Command = createUninstallCommand();
