// Where each workload kind keeps the pod it makes: the path to its pod
// template (or the pod itself), the one place injection may write.

/** Path from a workload object to the map holding its pod's `metadata` and `spec`. */
export const POD_TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export interface Workload {
  kind: string;
  name: string;
  namespace: string | undefined;
  /** From the document root to the pod template map. */
  templatePath: (string | number)[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every workload in an object: itself, or each item of a `List` (lists nest). */
export function findWorkloads(value: unknown, at: (string | number)[] = []): Workload[] {
  if (!isObj(value) || typeof value.kind !== 'string') return [];
  if (value.kind === 'List' || value.kind.endsWith('List')) {
    return Array.isArray(value.items) ? value.items.flatMap((item, i) => findWorkloads(item, [...at, 'items', i])) : [];
  }
  const rel = POD_TEMPLATE_PATHS[value.kind];
  if (!rel) return [];
  const meta = isObj(value.metadata) ? value.metadata : {};
  return [{
    kind: value.kind,
    name: typeof meta.name === 'string' ? meta.name : typeof meta.generateName === 'string' ? `${meta.generateName}*` : '(unnamed)',
    namespace: typeof meta.namespace === 'string' ? meta.namespace : undefined,
    templatePath: [...at, ...rel],
  }];
}
