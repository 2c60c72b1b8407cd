import { execFile } from 'node:child_process';

/** Reports criguard's state to a service manager; never throws. */
export type ServiceNotifier = (state: { readonly ready: true; readonly status: string }) => Promise<void>;

/**
 * Readiness for systemd's `Type=notify` (docs/adr/0034-socket-activation-and-readiness.md). Node has no
 * unix datagram sockets, so the message goes through `systemd-notify --ready`, run as a child (the unit sets
 * `NotifyAccess=all` so systemd accepts it from that child). systemd-notify waits until systemd has
 * processed the message (its barrier), so the child exiting first cannot lose it. Without
 * `NOTIFY_SOCKET` (not under systemd, or not Type=notify) nothing runs. The variable is removed from `env`
 * once read, so no other child inherits it. Failures are reported through `onError`: the daemon keeps
 * serving, and systemd's start timeout makes a lost message visible.
 */
export function createServiceNotifier(
  env: Record<string, string | undefined>,
  onError: (message: string) => void,
  command = 'systemd-notify',
): ServiceNotifier {
  const socket = env.NOTIFY_SOCKET;
  delete env.NOTIFY_SOCKET;
  if (socket === undefined || socket === '') return async () => undefined;
  return (state) =>
    new Promise((resolve) => {
      // --pid names criguard as the main PID, so the message is criguard's even if systemd reads it
      // after systemd-notify exited.
      const args = [...(state.ready ? ['--ready'] : []), `--status=${state.status}`, `--pid=${process.pid}`];
      execFile(
        command,
        args,
        // Only what systemd-notify needs: the socket, and a PATH for nothing else it might exec.
        { env: { NOTIFY_SOCKET: socket, PATH: '/usr/bin:/bin' }, timeout: 10_000 },
        (err, _stdout, stderr) => {
          if (err) onError(`${command} ${args.join(' ')} failed: ${stderr.trim() || err.message}`);
          resolve();
        },
      );
    });
}
