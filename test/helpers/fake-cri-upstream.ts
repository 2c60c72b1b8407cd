/**
 * An in-process CRI server (grpc-js) that registers every RPC of our proto, for faults and features the
 * packaged containerd cannot show (server streaming, 16 MiB responses, chosen errors). Each call is
 * recorded; behaviour per method can be overridden.
 */
import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runtimeV1Descriptor } from '../../src/cri/generated/runtime-v1.js';

const MAX = 16 * 1024 * 1024;
export const packageDefinition = fromJSON(runtimeV1Descriptor as never, {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
});

export interface RecordedCall {
  path: string;
  request: Record<string, unknown>;
  metadata: grpc.Metadata;
  deadline: grpc.Deadline | undefined;
}

type Unary = (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>) => Promise<unknown> | unknown;
type Streaming = (call: grpc.ServerWritableStream<Record<string, unknown>, unknown>) => Promise<void> | void;

export interface FakeUpstream {
  socket: string;
  calls: RecordedCall[];
  /** Overrides for `/runtime.v1.Service/Method`: return the response or throw a grpc status object. */
  unary: Map<string, Unary>;
  streaming: Map<string, Streaming>;
  /** Paths whose handler started (the request message was fully received by the server). */
  started: string[];
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its temporary directory. */
  dispose(): Promise<void>;
}

export async function startFakeUpstream(dir = mkdtempSync(join(tmpdir(), 'cgf-'))): Promise<FakeUpstream> {
  const socket = join(dir, 'up.sock');
  let server: grpc.Server | undefined;
  const fake: FakeUpstream = {
    socket,
    calls: [],
    unary: new Map(),
    streaming: new Map(),
    started: [],
    async start() {
      server = new grpc.Server({
        'grpc.max_receive_message_length': MAX,
        'grpc.max_send_message_length': MAX,
      });
      for (const serviceName of ['RuntimeService', 'ImageService']) {
        const service = packageDefinition[`runtime.v1.${serviceName}`] as grpc.ServiceDefinition;
        const handlers: grpc.UntypedServiceImplementation = {};
        for (const [name, method] of Object.entries(service)) {
          const path = method.path;
          if (method.responseStream) {
            handlers[name] = (call: grpc.ServerWritableStream<Record<string, unknown>, unknown>) => {
              fake.started.push(path);
              fake.calls.push({
                path,
                request: call.request,
                metadata: call.metadata,
                deadline: call.getDeadline(),
              });
              const override = fake.streaming.get(path);
              if (override) return void Promise.resolve(override(call)).catch(() => call.destroy());
              call.write({});
              call.end();
            };
          } else {
            handlers[name] = (
              call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>,
              callback: grpc.sendUnaryData<unknown>,
            ) => {
              fake.started.push(path);
              fake.calls.push({
                path,
                request: call.request,
                metadata: call.metadata,
                deadline: call.getDeadline(),
              });
              const override = fake.unary.get(path);
              new Promise((resolve) => resolve(override ? override(call) : {})).then(
                (response) => callback(null, response),
                (err: grpc.ServiceError) => callback(err),
              );
            };
          }
        }
        server.addService(service, handlers);
      }
      await new Promise<void>((resolve, reject) =>
        server!.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) =>
          err ? reject(err) : resolve(),
        ),
      );
    },
    async stop() {
      const s = server;
      server = undefined;
      if (s) s.forceShutdown();
      rmSync(socket, { force: true });
    },
    async dispose() {
      await fake.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await fake.start();
  return fake;
}
