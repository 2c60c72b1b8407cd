/**
 * A small promise-based CRI (`runtime.v1`) client over grpc-js, playing the kubelet in the tests, the demo
 * and the benchmarks (an independent gRPC stack on the other side of criguard). The daemon never loads it:
 * its own calls to containerd use `src/cri/unary-call.ts`. Messages are plain objects with proto field names (`keepCase`); int64 fields
 * come back as decimal strings, enums as their names, unset fields as their defaults (`null` for
 * messages). Only the fields declared in `proto/runtime/v1/api.proto` are decoded.
 */
import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import type { INamespace } from 'protobufjs';
import { runtimeV1Descriptor } from '../../src/cri/generated/runtime-v1.js';

/** The kubelet and containerd both allow 16 MiB messages; grpc-js defaults to 4 MiB for receiving. */
export const CRI_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export type CriServiceName = 'RuntimeService' | 'ImageService';
/** int64 fields: accepted as number or string, returned as decimal strings (no precision loss). */
export type Int64 = string;
export type StringMap = Record<string, string>;

export interface CallOptions {
  /** Deadline for this call, in milliseconds from now. */
  deadlineMs?: number;
  metadata?: grpc.Metadata | StringMap;
}

export interface CriClientOptions extends CallOptions {
  /** Extra grpc-js channel options (merged over the 16 MiB limits and authority `localhost`). */
  channelOptions?: grpc.ChannelOptions;
}

// ---- Messages (the fields our proto declares; requests take partial objects)

export interface VersionResponse {
  version: string;
  runtime_name: string;
  runtime_version: string;
  runtime_api_version: string;
}
export interface ImageSpec {
  image: string;
  annotations?: StringMap;
  user_specified_image?: string;
  runtime_handler?: string;
  image_ref?: string;
}
export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  server_address?: string;
  identity_token?: string;
  registry_token?: string;
}
export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt?: number;
}
export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  log_directory?: string;
  labels?: StringMap;
  annotations?: StringMap;
  linux?: {
    cgroup_parent?: string;
    security_context?: {
      namespace_options?: {
        network?: NamespaceMode;
        pid?: NamespaceMode;
        ipc?: NamespaceMode;
        target_id?: string;
      };
      privileged?: boolean;
    };
    sysctls?: StringMap;
  };
}
export type PodSandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata | null;
  state: PodSandboxState;
  created_at: Int64;
  labels: StringMap;
  annotations: StringMap;
  runtime_handler: string;
}
export type PodSandboxStatus = PodSandbox;
export interface PodSandboxFilter {
  id?: string;
  state?: { state: PodSandboxState };
  label_selector?: StringMap;
}
export interface ContainerMetadata {
  name: string;
  attempt?: number;
}
export interface ContainerConfig {
  metadata: ContainerMetadata;
  image: ImageSpec;
  command?: string[];
  args?: string[];
  working_dir?: string;
  envs?: { key: string; value: string | Uint8Array }[];
  mounts?: { container_path: string; host_path: string; readonly?: boolean }[];
  labels?: StringMap;
  annotations?: StringMap;
  log_path?: string;
  stdin?: boolean;
  stdin_once?: boolean;
  tty?: boolean;
}
export type ContainerState =
  'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';
export interface Container {
  id: string;
  pod_sandbox_id: string;
  metadata: ContainerMetadata | null;
  image: ImageSpec | null;
  image_ref: string;
  state: ContainerState;
  created_at: Int64;
  labels: StringMap;
  annotations: StringMap;
  image_id: string;
}
export interface ContainerFilter {
  id?: string;
  state?: { state: ContainerState };
  pod_sandbox_id?: string;
  label_selector?: StringMap;
}
export interface ContainerStatus {
  id: string;
  metadata: ContainerMetadata | null;
  state: ContainerState;
  created_at: Int64;
  started_at: Int64;
  finished_at: Int64;
  exit_code: number;
  image: ImageSpec | null;
  image_ref: string;
  reason: string;
  message: string;
  labels: StringMap;
  annotations: StringMap;
  log_path: string;
  image_id: string;
}
export interface RuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}
export interface Image {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size: Int64;
  uid: { value: Int64 } | null;
  username: string;
  spec: ImageSpec | null;
  pinned: boolean;
}
export interface FilesystemUsage {
  timestamp: Int64;
  fs_id: { mountpoint: string } | null;
  used_bytes: { value: Int64 } | null;
  inodes_used: { value: Int64 } | null;
}

/** The typed calls; each resolves with the response or rejects with grpc-js's `ServiceError` (`code`, `details`). */
export interface CriClient {
  version(req?: { version?: string }, opts?: CallOptions): Promise<VersionResponse>;
  runPodSandbox(
    req: { config: PodSandboxConfig; runtime_handler?: string },
    opts?: CallOptions,
  ): Promise<{ pod_sandbox_id: string }>;
  stopPodSandbox(req: { pod_sandbox_id: string }, opts?: CallOptions): Promise<object>;
  removePodSandbox(req: { pod_sandbox_id: string }, opts?: CallOptions): Promise<object>;
  podSandboxStatus(
    req: { pod_sandbox_id: string; verbose?: boolean },
    opts?: CallOptions,
  ): Promise<{ status: PodSandboxStatus | null; info: StringMap }>;
  listPodSandbox(req?: { filter?: PodSandboxFilter }, opts?: CallOptions): Promise<{ items: PodSandbox[] }>;
  createContainer(
    req: { pod_sandbox_id: string; config: ContainerConfig; sandbox_config?: PodSandboxConfig },
    opts?: CallOptions,
  ): Promise<{ container_id: string }>;
  startContainer(req: { container_id: string }, opts?: CallOptions): Promise<object>;
  stopContainer(
    req: { container_id: string; timeout?: number | string },
    opts?: CallOptions,
  ): Promise<object>;
  removeContainer(req: { container_id: string }, opts?: CallOptions): Promise<object>;
  listContainers(
    req?: { filter?: ContainerFilter },
    opts?: CallOptions,
  ): Promise<{ containers: Container[] }>;
  containerStatus(
    req: { container_id: string; verbose?: boolean },
    opts?: CallOptions,
  ): Promise<{ status: ContainerStatus | null; info: StringMap }>;
  status(
    req?: { verbose?: boolean },
    opts?: CallOptions,
  ): Promise<{ status: { conditions: RuntimeCondition[] } | null; info: StringMap }>;
  listImages(req?: { filter?: { image?: ImageSpec } }, opts?: CallOptions): Promise<{ images: Image[] }>;
  /** `image` is `null` when the runtime does not have the image (not an error). */
  imageStatus(
    req: { image: ImageSpec; verbose?: boolean },
    opts?: CallOptions,
  ): Promise<{ image: Image | null; info: StringMap }>;
  pullImage(
    req: { image: ImageSpec; auth?: AuthConfig; sandbox_config?: PodSandboxConfig },
    opts?: CallOptions,
  ): Promise<{ image_ref: string }>;
  removeImage(req: { image: ImageSpec }, opts?: CallOptions): Promise<object>;
  imageFsInfo(
    req?: object,
    opts?: CallOptions,
  ): Promise<{ image_filesystems: FilesystemUsage[]; container_filesystems: FilesystemUsage[] }>;
  /** Any unary method of either service, by its proto name (e.g. `('RuntimeService', 'ExecSync', {...})`). */
  unary<Res = unknown>(
    service: CriServiceName,
    method: string,
    request: object,
    opts?: CallOptions,
  ): Promise<Res>;
  /** The underlying grpc-js clients (one channel each). */
  readonly raw: { runtime: grpc.Client; image: grpc.Client };
  /** Closes both channels; pending calls fail with CANCELLED. */
  close(): void;
}

type ServiceCtor = grpc.ServiceClientConstructor;
let services: { RuntimeService: ServiceCtor; ImageService: ServiceCtor } | undefined;

/** Loads the two service definitions from the generated JSON descriptor (once per process). */
function loadServices(): { RuntimeService: ServiceCtor; ImageService: ServiceCtor } {
  if (!services) {
    const definition = fromJSON(runtimeV1Descriptor as INamespace, {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      arrays: true,
      objects: true,
      oneofs: true,
    });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      runtime: { v1: { RuntimeService: ServiceCtor; ImageService: ServiceCtor } };
    };
    services = {
      RuntimeService: loaded.runtime.v1.RuntimeService,
      ImageService: loaded.runtime.v1.ImageService,
    };
  }
  return services;
}

/** grpc-js channel options shared by every CRI channel we open: 16 MiB both ways, authority `localhost`. */
export function criChannelOptions(extra: grpc.ChannelOptions = {}): grpc.ChannelOptions {
  return {
    'grpc.max_receive_message_length': CRI_MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': CRI_MAX_MESSAGE_BYTES,
    'grpc.default_authority': 'localhost',
    ...extra,
  };
}

/**
 * Channel options for a client that polls a daemon until it is up: grpc-js otherwise backs off 1 s after
 * the first failed connect (socket not there yet), which dominates test start-up.
 */
export const FAST_RECONNECT: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 20,
  'grpc.max_reconnect_backoff_ms': 200,
};

function toMetadata(md: grpc.Metadata | StringMap | undefined): grpc.Metadata {
  if (md instanceof grpc.Metadata) return md.clone();
  const out = new grpc.Metadata();
  for (const [k, v] of Object.entries(md ?? {})) out.set(k, v);
  return out;
}

function toCallOptions(deadlineMs: number | undefined): grpc.CallOptions {
  return deadlineMs === undefined ? {} : { deadline: new Date(Date.now() + deadlineMs) };
}

/**
 * Opens a CRI client on a unix socket (`socketPath` is a filesystem path). Connects lazily; never throws.
 * `options.deadlineMs` / `options.metadata` apply to every call unless the call overrides them.
 */
export function createCriClient(socketPath: string, options: CriClientOptions = {}): CriClient {
  const { RuntimeService, ImageService } = loadServices();
  const target = `unix:${socketPath}`;
  const creds = grpc.credentials.createInsecure();
  const channelOptions = criChannelOptions(options.channelOptions);
  const raw = {
    runtime: new RuntimeService(target, creds, channelOptions),
    image: new ImageService(target, creds, channelOptions),
  };

  function unary<Res>(service: CriServiceName, method: string, request: object, opts: CallOptions = {}) {
    const client = (service === 'RuntimeService' ? raw.runtime : raw.image) as unknown as Record<
      string,
      unknown
    >;
    const fn = client[method];
    if (typeof fn !== 'function') {
      return Promise.reject(new TypeError(`unknown CRI method ${service}/${method}`));
    }
    const md = toMetadata(opts.metadata ?? options.metadata);
    const callOpts = toCallOptions(opts.deadlineMs ?? options.deadlineMs);
    return new Promise<Res>((resolve, reject) => {
      (fn as (...a: unknown[]) => unknown).call(
        client,
        request,
        md,
        callOpts,
        (err: grpc.ServiceError | null, res: Res) => (err ? reject(err) : resolve(res)),
      );
    });
  }

  // Each typed method is the generic call with its method name; `never` lets one helper satisfy every signature.
  const rt =
    (method: string) =>
    (req: object = {}, opts?: CallOptions): Promise<never> =>
      unary('RuntimeService', method, req, opts);
  const img =
    (method: string) =>
    (req: object = {}, opts?: CallOptions): Promise<never> =>
      unary('ImageService', method, req, opts);

  return {
    version: rt('Version'),
    runPodSandbox: rt('RunPodSandbox'),
    stopPodSandbox: rt('StopPodSandbox'),
    removePodSandbox: rt('RemovePodSandbox'),
    podSandboxStatus: rt('PodSandboxStatus'),
    listPodSandbox: rt('ListPodSandbox'),
    createContainer: rt('CreateContainer'),
    startContainer: rt('StartContainer'),
    stopContainer: rt('StopContainer'),
    removeContainer: rt('RemoveContainer'),
    listContainers: rt('ListContainers'),
    containerStatus: rt('ContainerStatus'),
    status: rt('Status'),
    listImages: img('ListImages'),
    imageStatus: img('ImageStatus'),
    pullImage: img('PullImage'),
    removeImage: img('RemoveImage'),
    imageFsInfo: img('ImageFsInfo'),
    unary,
    raw,
    close() {
      raw.runtime.close();
      raw.image.close();
    },
  };
}

/** Outcome of {@link callRaw}: the status, the undecoded response (if any) and the trailers. */
export interface RawCallResult {
  code: grpc.status;
  details: string;
  response: Buffer | undefined;
  headers: grpc.Metadata | undefined;
  trailers: grpc.Metadata;
}

/**
 * Calls one unary method with raw request bytes and returns the raw response bytes, for byte-for-byte
 * comparisons (direct vs through the proxy). `path` is `/runtime.v1.<Service>/<Method>`. Never rejects
 * for a gRPC error: the status is part of the result.
 */
export function callRaw(
  socketPath: string,
  path: string,
  requestBytes: Uint8Array,
  opts: CallOptions = {},
): Promise<RawCallResult> {
  const client = new grpc.Client(
    `unix:${socketPath}`,
    grpc.credentials.createInsecure(),
    criChannelOptions(),
  );
  const identity = (b: Buffer): Buffer => b;
  return new Promise<RawCallResult>((resolve) => {
    let response: Buffer | undefined;
    let headers: grpc.Metadata | undefined;
    const call = client.makeUnaryRequest<Buffer, Buffer>(
      path,
      identity,
      identity,
      Buffer.from(requestBytes),
      toMetadata(opts.metadata),
      toCallOptions(opts.deadlineMs),
      (_err, res) => {
        response = res;
      },
    );
    call.on('metadata', (md: grpc.Metadata) => {
      headers = md;
    });
    call.on('status', (s: grpc.StatusObject) => {
      client.close();
      resolve({ code: s.code, details: s.details, response, headers, trailers: s.metadata });
    });
  });
}
