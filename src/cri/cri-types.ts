/** Plain views of the CRI messages criguard reads (decoded by cri/proto.ts with defaults filled in). */

export interface ImageSpec {
  image: string;
  annotations: Record<string, string>;
  user_specified_image: string;
  runtime_handler: string;
  image_ref: string;
}

export interface AuthConfig {
  username: string;
  password: string;
  auth: string;
  server_address: string;
  identity_token: string;
  registry_token: string;
}

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface PullImageRequest {
  image: ImageSpec | null;
  auth: AuthConfig | null;
  sandbox_config: PodSandboxConfig | null;
}

export interface PullImageResponse {
  image_ref: string;
}

export interface CreateContainerRequest {
  pod_sandbox_id: string;
  config: {
    metadata: { name: string; attempt: number } | null;
    image: ImageSpec | null;
    mounts: Array<{ container_path: string; image: ImageSpec | null }>;
    annotations: Record<string, string>;
  } | null;
  sandbox_config: PodSandboxConfig | null;
}
