// The controller image's entry point: one image, one subcommand per
// control-plane component, so a release is one controller image and one
// proxy image.
//   skein-controller [controller]   reconcilers and the discovery API (operator/main.ts)
//   skein-controller webhook        the admission webhook (webhook/main.ts)
//   skein-controller identity       the identity CA (operator/identity/main.ts)
// Literal imports, so the image's bundler (images/bundle.ts) sees all three.
const COMPONENTS: Record<string, () => Promise<unknown>> = {
  controller: () => import('./main.ts'),
  webhook: () => import('../webhook/main.ts'),
  identity: () => import('./identity/main.ts'),
};

const [sub = 'controller', ...rest] = process.argv.slice(2);
const load = COMPONENTS[sub];
if (!load || rest.length > 0) {
  console.error(`skein-controller: unknown ${load ? `arguments "${rest.join(' ')}"` : `subcommand "${sub}"`}; use one of: ${Object.keys(COMPONENTS).join(', ')} (settings come from the environment)`);
  process.exit(2);
}
// Each component's main module starts it when loaded.
await load();
