import type { Command } from './command.js';
import { serveCommand } from './serve.js';
import { statusCommand } from './status.js';
import { installCommand } from './install.js';
import { uninstallCommand } from './uninstall.js';
import { probeCommand } from './probe.js';
import { keygenCommand } from './keygen.js';
import { signCommand } from './sign.js';
import { verifyCommand } from './verify.js';
import { policyCheckCommand } from './policy-check.js';
import { policyPinNodeImagesCommand } from './policy-pin-node-images.js';
import { policySimulateCommand } from './policy-simulate.js';
import { attestationsExportCommand, attestationsImportCommand } from './attestations-archive.js';
import { breakglassEnableCommand } from './breakglass-enable.js';
import { breakglassDisableCommand } from './breakglass-disable.js';
import { breakglassStatusCommand } from './breakglass-status.js';
import { trustedRootRefreshCommand } from './trusted-root-refresh.js';
import { quarantineAddCommand, quarantineListCommand, quarantineRemoveCommand } from './quarantine.js';

/** Every subcommand, in the order `criguard --help` lists them. */
export const commands: readonly Command[] = [
  serveCommand,
  statusCommand,
  installCommand,
  uninstallCommand,
  probeCommand,
  keygenCommand,
  signCommand,
  verifyCommand,
  policyCheckCommand,
  policyPinNodeImagesCommand,
  policySimulateCommand,
  attestationsExportCommand,
  attestationsImportCommand,
  breakglassEnableCommand,
  breakglassDisableCommand,
  breakglassStatusCommand,
  quarantineAddCommand,
  quarantineListCommand,
  quarantineRemoveCommand,
  trustedRootRefreshCommand,
];
