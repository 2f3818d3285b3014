// Names users, manifests and the other components depend on (DESIGN.md,
// "Names that are a contract"). Change them only on purpose.
export const CONTROL_PLANE_NAMESPACE = 'skein-system';
export const INJECT_ANNOTATION = 'skein.dev/inject';
export const CONFIG_PREFIX = 'config.skein.dev/';

/** What the injector decided, on every pod it saw: `injected` or `skipped`, and why. */
export const STATUS_ANNOTATION = 'skein.dev/injection';
export const REASON_ANNOTATION = 'skein.dev/injection-reason';
export const CREATED_BY_ANNOTATION = 'skein.dev/created-by';

/** Set on control-plane objects; the injector never touches them. */
export const CONTROL_PLANE_LABEL = 'skein.dev/control-plane-component';
/** On meshed pods: discovery uses it to tell meshed endpoints from the rest. */
export const MESHED_LABEL = 'skein.dev/control-plane-ns';
export const WORKLOAD_NS_LABEL = 'skein.dev/workload-ns';

export const INIT_CONTAINER = 'skein-init';
export const PROXY_CONTAINER = 'skein-proxy';
export const PROXY_UID = 2102;

/** The proxy's own ports. */
export const PORTS = { outbound: 4140, inbound: 4143, control: 4190, admin: 4191 } as const;

/** The control plane's Services, as proxies and the controller dial them. */
export const IDENTITY_SERVICE = 'skein-identity';
export const IDENTITY_PORT = 8080;
export const DISCOVERY_SERVICE = 'skein-discovery';
export const DISCOVERY_PORT = 8086;

/** `host:port` of a control-plane Service by its cluster DNS name. */
export function controlPlaneAddress(service: string, port: number, clusterDomain: string): string {
  return `${service}.${CONTROL_PLANE_NAMESPACE}.svc.${clusterDomain}:${port}`;
}

export const TOKEN_VOLUME = 'skein-identity-token';
export const TOKEN_MOUNT = '/var/run/secrets/skein';
export const TRUST_ROOTS_VOLUME = 'skein-trust-roots';
export const TRUST_ROOTS_CONFIGMAP = 'skein-trust-roots';
export const TRUST_ROOTS_MOUNT = '/var/run/skein/trust-roots';
/** skein-init's writable /run (an emptyDir) under its read-only root: iptables-legacy takes its lock at /run/xtables.lock. */
export const INIT_RUN_VOLUME = 'skein-init-run';
export const INIT_RUN_MOUNT = '/run';

export function identityAudience(trustDomain: string): string {
  return `identity.${CONTROL_PLANE_NAMESPACE}.${trustDomain}`;
}
