import test from 'ava';
import { createServiceNotifier } from '../../src/daemon/service-notify.js';

test('without NOTIFY_SOCKET nothing runs; with it, the variable is taken out of the environment', async (t) => {
  const errors: string[] = [];
  await createServiceNotifier(
    {},
    (m) => void errors.push(m),
    '/nonexistent/systemd-notify',
  )({
    ready: true,
    status: 'serving',
  });
  t.deepEqual(errors, []);
  const env: Record<string, string | undefined> = { NOTIFY_SOCKET: '/run/systemd/notify', HOME: '/root' };
  createServiceNotifier(env, () => undefined);
  t.deepEqual(env, { HOME: '/root' });
});

test('a systemd-notify that cannot run is reported, not thrown', async (t) => {
  const errors: string[] = [];
  const notify = createServiceNotifier(
    { NOTIFY_SOCKET: '/nonexistent/notify' },
    (m) => void errors.push(m),
    '/nonexistent/systemd-notify',
  );
  await notify({ ready: true, status: 'serving' });
  t.is(errors.length, 1);
  t.regex(errors[0] ?? '', /systemd-notify --ready --status=serving --pid=\d+ failed/);
});
