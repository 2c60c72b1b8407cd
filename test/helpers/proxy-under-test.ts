/** Starts criguard's proxy in-process on a temporary socket in front of a given upstream socket. */
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { admitEverything } from '../../src/admission/admission.js';
import type { RequestGate } from '../../src/cri/gate.js';
import { createCreateContainerGate } from '../../src/cri/gates/create-container.js';
import { createPullImageGate } from '../../src/cri/gates/pull-image.js';
import {
  DEFAULT_LIMITS,
  startProxyServer,
  type ProxyLimits,
  type ProxyServer,
} from '../../src/cri/proxy-server.js';
import { createRouter } from '../../src/cri/routes.js';
import { packageDefinition } from './fake-cri-upstream.js';

export const silentLogger = {
  warnings: [] as string[],
  warn(fields: Record<string, unknown>, message: string) {
    this.warnings.push(`${message} ${JSON.stringify(fields)}`);
  },
  debug() {},
  info() {},
};

export interface ProxyUnderTest {
  socket: string;
  server: ProxyServer;
  stop(): Promise<void>;
}

export async function startProxy(
  upstream: string,
  gates: { pullImage?: RequestGate; createContainer?: RequestGate } = {},
  limits: Partial<ProxyLimits> = {},
): Promise<ProxyUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'cgp-'));
  const socket = join(dir, 'criguard.sock');
  const server = await startProxyServer({
    listenPath: socket,
    upstreamPath: upstream,
    socketMode: 0o660,
    route: createRouter({
      pullImage: gates.pullImage ?? createPullImageGate(admitEverything),
      createContainer: gates.createContainer ?? createCreateContainerGate(admitEverything),
    }),
    logger: silentLogger,
    limits: { ...DEFAULT_LIMITS, ...limits },
  });
  return {
    socket,
    server,
    async stop() {
      await server.stop(1000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const MAX = 16 * 1024 * 1024;
type AnyClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

/** grpc-js clients for both CRI services on `socket`. */
export function criClients(
  socket: string,
  extra: grpc.ChannelOptions = {},
): { runtime: AnyClient; image: AnyClient; close(): void } {
  const pkg = grpc.loadPackageDefinition(packageDefinition) as unknown as {
    runtime: { v1: Record<string, grpc.ServiceClientConstructor> };
  };
  const options = {
    'grpc.max_receive_message_length': MAX,
    'grpc.max_send_message_length': MAX,
    'grpc.default_authority': 'localhost',
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 200,
    ...extra,
  };
  const creds = grpc.credentials.createInsecure();
  const runtime = new pkg.runtime.v1.RuntimeService!(
    `unix://${socket}`,
    creds,
    options,
  ) as unknown as AnyClient;
  const image = new pkg.runtime.v1.ImageService!(`unix://${socket}`, creds, options) as unknown as AnyClient;
  return {
    runtime,
    image,
    close() {
      runtime.close();
      image.close();
    },
  };
}

/** Promise form of a unary call on a generic client. */
export function unary<T = Record<string, unknown>>(
  client: AnyClient,
  method: string,
  request: Record<string, unknown>,
  options: { metadata?: grpc.Metadata; deadlineMs?: number } = {},
): Promise<{ response: T; trailers: grpc.Metadata }> {
  return new Promise((resolve, reject) => {
    let result: { err: grpc.ServiceError | null; response?: T } | undefined;
    let trailers: grpc.Metadata | undefined;
    const settle = () => {
      if (!result || !trailers) return;
      if (result.err) reject(result.err);
      else resolve({ response: result.response as T, trailers });
    };
    const call = client[method]!(
      request,
      options.metadata ?? new grpc.Metadata(),
      { deadline: options.deadlineMs === undefined ? undefined : Date.now() + options.deadlineMs },
      (err: grpc.ServiceError | null, response: T) => {
        result = { err, response };
        settle();
      },
    ) as grpc.ClientUnaryCall;
    call.on('status', (status: grpc.StatusObject) => {
      trailers = status.metadata;
      settle();
    });
  });
}
