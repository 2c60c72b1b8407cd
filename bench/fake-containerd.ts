/**
 * A fake containerd for the growth benchmark, in a process of its own (so the benchmark's own event loop
 * does not slow it): a CRI server (test/helpers/fake-cri-upstream.ts) that lists N running containers and
 * answers ImageStatus and PullImage from a table of images, with no image store behind it. Used where real
 * containerd would be the bottleneck or too heavy: re-validation sweeps over 1,000 running containers and
 * 500 concurrent pulls. Every ListContainers, ImageStatus and PullImage is logged to EVENTS with its time
 * (ms since the epoch, sub-millisecond).
 *
 *   tsx bench/fake-containerd.ts CONFIG.json EVENTS   (prints "ready SOCKET" once it serves)
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { startFakeUpstream } from '../test/helpers/fake-cri-upstream.js';

/** What the fake holds, written by the benchmark. */
export interface FakeContainerdConfig {
  /** Images by id (config digest), with the registry names containerd would have recorded. */
  readonly images: ReadonlyArray<{ readonly id: string; readonly repoDigests: readonly string[] }>;
  /** Running containers: image id and pod. */
  readonly containers: ReadonlyArray<{ readonly image: string; readonly namespace: string }>;
}

const [configFile, eventsFile] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configFile!, 'utf8')) as FakeContainerdConfig;
const byRef = new Map<string, { id: string; repoDigests: readonly string[] }>();
for (const image of config.images) {
  byRef.set(image.id, image);
  for (const d of image.repoDigests) byRef.set(d, image);
}
const now = () => performance.timeOrigin + performance.now();
const events: string[] = [];
const log = (what: string) => events.push(`${now().toFixed(3)} ${what}`);
setInterval(() => {
  if (events.length > 0) appendFileSync(eventsFile!, `${events.splice(0).join('\n')}\n`);
}, 50);

const fake = await startFakeUpstream();
const running = config.containers.map((c, i) => ({
  id: `c${i.toString(16).padStart(63, '0')}`,
  pod_sandbox_id: `p${i.toString(16).padStart(63, '0')}`,
  metadata: { name: `app-${i}`, attempt: 0 },
  image: { image: c.image },
  image_ref: c.image,
  state: 'CONTAINER_RUNNING',
  created_at: '1',
  labels: {
    'io.kubernetes.pod.namespace': c.namespace,
    'io.kubernetes.pod.name': `pod-${i}`,
    'io.kubernetes.pod.uid': `uid-${i}`,
  },
  annotations: {},
}));
fake.unary.set('/runtime.v1.RuntimeService/ListContainers', () => {
  log('ListContainers');
  return { containers: running };
});
fake.unary.set('/runtime.v1.RuntimeService/ListPodSandbox', () => ({ items: [] }));
fake.unary.set('/runtime.v1.RuntimeService/Version', () => ({
  version: '0.1.0',
  runtime_name: 'fake-containerd',
  runtime_version: '1',
  runtime_api_version: 'v1',
}));
fake.unary.set('/runtime.v1.ImageService/ImageStatus', (call) => {
  log('ImageStatus');
  const ref = String((call.request.image as { image?: string } | undefined)?.image ?? '');
  const image = byRef.get(ref);
  return image ? { image: { id: image.id, repo_digests: image.repoDigests, repo_tags: [], size: '1' } } : {};
});
fake.unary.set('/runtime.v1.ImageService/PullImage', (call) => {
  log('PullImage');
  const ref = String((call.request.image as { image?: string } | undefined)?.image ?? '');
  const image = byRef.get(ref);
  if (!image) throw Object.assign(new Error(`no such image ${ref}`), { code: 5 });
  return { image_ref: image.id };
});
console.log(`ready ${fake.socket}`);
process.on('SIGTERM', () => void fake.dispose().then(() => process.exit(0)));
