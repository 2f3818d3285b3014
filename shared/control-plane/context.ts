// What each control-plane main (operator/main.ts, operator/identity/main.ts,
// webhook/main.ts) starts from: its settings parsed from the environment,
// its logger, the kubeconfig, an Event recorder and leader election on a
// Lease of its own, set up the same way in all three.
import type { KubeConfig } from '@kubernetes/client-node';
import type { z } from 'zod';
import { createLogger, type Logger } from '../log.ts';
import { EventRecorder, loadKubeConfig } from './kube.ts';
import { LeaderElector, kubeLeaseStore } from './leader.ts';
import { COMMON_SETTINGS, readSettings } from './settings.ts';

type Shape = Record<string, z.ZodType<unknown, string | undefined>>;

export interface ControlPlane<S> {
  /** `controller`, `webhook` or `identity`: it names the logger, the Lease and the Events' source (`skein-<component>`). */
  component: string;
  settings: S;
  log: Logger;
  kc: KubeConfig;
  events: EventRecorder;
  /** This replica, as leader election and Events name it. */
  podName: string;
  /** Leader election on Lease `skein-<component>` in the component's namespace; `what` says what only the leader writes. */
  elector(what: string, hooks: { onStartedLeading?: () => void; onStoppedLeading?: () => void }): LeaderElector;
}

export function controlPlane<S extends Shape>(component: string, shape: S, env: NodeJS.ProcessEnv = process.env) {
  const name = `skein-${component}`;
  const settings = readSettings(name, { ...COMMON_SETTINGS, ...shape }, env);
  const log = createLogger(name);
  const kc = loadKubeConfig(env);
  const podName = settings.POD_NAME ?? settings.HOSTNAME ?? `${name}-${process.pid}`;
  const context: ControlPlane<typeof settings> = {
    component, settings, log, kc, podName,
    events: new EventRecorder(kc, component, log, podName),
    elector: (what, hooks) => new LeaderElector({
      store: kubeLeaseStore(kc, settings.POD_NAMESPACE, name), identity: podName,
      onStartedLeading: () => { log.info({ identity: podName }, `leading: ${what}`); hooks.onStartedLeading?.(); },
      onStoppedLeading: () => { log.warn({ identity: podName }, `no longer leading: ${what} stop`); hooks.onStoppedLeading?.(); },
      onError: (err) => log.warn({ err }, 'leader election: cannot read or write the Lease; retrying'),
    }),
  };
  return context;
}
