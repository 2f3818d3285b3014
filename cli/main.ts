// kubectl-skein: parses the command line, runs one command, maps errors to
// exit codes. Each command's logic lives in its own module.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError, describeUnexpected, usageError } from './errors.ts';
import { parseDurationMs } from '../api/duration.ts';
import { HELP } from './help.ts';
import { CLI_VERSION } from './version.ts';
import { kustomize } from './kubectl.ts';
import { CRDS_DIR, GATEWAY_CRDS_CHOICES, GATEWAY_CRDS_DIR, joinStreams, OVERLAYS, overlayDir, type Overlay } from './manifests.ts';
import { cidrProblem } from '../api/crds/authorizationpolicy.ts';
import { composeInstall, identityObjects, isDnsName, DEFAULT_TRUST_DOMAIN } from './install.ts';
import { checkImageSource, DEFAULT_SOURCE } from '../shared/images.ts';
import { composeUninstall, TRUST_ROOTS_NOTE } from './uninstall.ts';
import { injectYaml } from './inject/inject.ts';
import { readInputs } from './inject/read.ts';
import { loadKubeConfig, runChecks, runChecksUntil } from './check/run.ts';
import { formatJson, formatSummary, linePrinter, passed } from './check/format.ts';
import { parseEdge, parseResource, parseWindow, type StatQuery } from './stat/query.ts';
import { assertNamespacesExist, meshedPods, statFromPrometheus, statFromProxies } from './stat/run.ts';
import { formatStatJson, formatTable } from './stat/format.ts';
import { progress } from './progress.ts';
import { completionScript, completeWords, formatCompletion, SHELLS, type Shell } from './completion.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

function parse<O extends Options>(command: string, args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (err) {
    throw usageError((err as Error).message, command);
  }
}

function overlayOf(value: unknown, command: string): Overlay {
  const v = typeof value === 'string' ? value : 'base';
  if (!(OVERLAYS as readonly string[]).includes(v)) throw usageError(`--overlay must be one of ${OVERLAYS.join(', ')}, not "${v}"`, command);
  return v as Overlay;
}

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);

async function install(args: string[]): Promise<number> {
  const { values } = parse('install', args, { overlay: { type: 'string' }, 'trust-domain': { type: 'string' }, 'identity-issuer-dir': { type: 'string' }, registry: { type: 'string' }, tag: { type: 'string' }, 'cluster-networks': { type: 'string' }, 'gateway-api-crds': { type: 'string' } });
  if (values.help) return help('install');
  const gatewayCrds = values['gateway-api-crds'] ?? 'skip';
  if (!(GATEWAY_CRDS_CHOICES as readonly string[]).includes(gatewayCrds)) throw usageError(`--gateway-api-crds must be one of ${GATEWAY_CRDS_CHOICES.join(', ')}, not "${gatewayCrds}"`, 'install');
  const clusterNetworks = values['cluster-networks']?.split(',').map((c) => c.trim()).filter((c) => c !== '');
  const cidrError = clusterNetworks?.map(cidrProblem).find((p) => p !== undefined);
  if (clusterNetworks?.length === 0 || cidrError) throw usageError(`--cluster-networks must be comma-separated CIDRs such as 10.0.0.0/8,192.168.0.0/16${cidrError ? `: ${cidrError}` : ''}`, 'install');
  const images = { registry: values.registry ?? DEFAULT_SOURCE.registry, tag: values.tag ?? DEFAULT_SOURCE.tag };
  const imageProblem = checkImageSource(images)[0];
  if (imageProblem) throw usageError(`--${imageProblem.field} ${imageProblem.message}`, 'install');
  const trustDomain = values['trust-domain'] ?? DEFAULT_TRUST_DOMAIN;
  if (!isDnsName(trustDomain)) throw usageError(`--trust-domain "${trustDomain}" is not a DNS name; use something like cluster.local or mesh.example.com`, 'install');
  const overlay = overlayOf(values.overlay, 'install');
  const [crds, gateway, controlPlane, identity] = await Promise.all([
    kustomize(CRDS_DIR), gatewayCrds === 'install' ? kustomize(GATEWAY_CRDS_DIR) : Promise.resolve(''),
    kustomize(overlayDir(overlay)), identityObjects({ overlay, trustDomain, issuerDir: values['identity-issuer-dir'] }),
  ]);
  out(composeInstall(joinStreams([gateway, crds]), controlPlane, identity, trustDomain, images, clusterNetworks));
  return 0;
}

async function uninstall(args: string[]): Promise<number> {
  const { values } = parse('uninstall', args, { overlay: { type: 'string' }, crds: { type: 'boolean' } });
  if (values.help) return help('uninstall');
  const controlPlane = await kustomize(overlayDir(overlayOf(values.overlay, 'uninstall')));
  out(composeUninstall(controlPlane, values.crds ? await kustomize(CRDS_DIR) : undefined));
  process.stderr.write(`${TRUST_ROOTS_NOTE}\n`);
  return 0;
}

async function inject(args: string[]): Promise<number> {
  const { values } = parse('inject', args, { filename: { type: 'string', short: 'f', multiple: true }, manual: { type: 'boolean' } });
  if (values.help) return help('inject');
  const outputs = (await readInputs(values.filename ?? [])).map((i) => injectYaml(i.yaml, i.source, { manual: values.manual ?? false, version: CLI_VERSION }));
  // Files are joined as documents of one stream, as kubectl would read them.
  process.stdout.write(outputs.map((o) => o.text).map((t) => (t.endsWith('\n') || t === '' ? t : `${t}\n`)).join('---\n'));
  for (const line of outputs.flatMap((o) => o.report)) process.stderr.write(`${line}\n`);
  return 0;
}

async function check(args: string[]): Promise<number> {
  const { values } = parse('check', args, {
    pre: { type: 'boolean' }, proxy: { type: 'boolean' }, wait: { type: 'string' }, output: { type: 'string', short: 'o' }, namespace: { type: 'string', short: 'n' },
    kubeconfig: { type: 'string' }, context: { type: 'string' },
  });
  if (values.help) return help('check');
  const output = values.output ?? 'text';
  if (output !== 'text' && output !== 'json') throw usageError(`--output must be text or json, not "${output}"`, 'check');
  if (values.pre && values.proxy) throw usageError('--pre checks a cluster before the install, --proxy its meshed pods after: give one', 'check');
  const waitMs = values.wait === undefined ? 0 : parseDurationMs(values.wait);
  if (waitMs === undefined) throw usageError(`--wait "${values.wait ?? ''}" is not a duration such as 30s, 5m or 1m30s`, 'check');
  const kc = loadKubeConfig({ kubeconfig: values.kubeconfig, context: values.context });
  const opts = { pre: values.pre ?? false, proxy: values.proxy ?? false, cliVersion: CLI_VERSION, namespace: values.namespace ?? 'default' };
  const print = linePrinter(out);
  const results = waitMs > 0
    ? await runChecksUntil(kc, opts, waitMs, (failing) => process.stderr.write(`waiting for ${failing.length} check(s) to pass: ${failing.map((r) => r.name).join('; ')}\n`))
    : await runChecks(kc, opts, (r) => { if (output === 'text') print(r); });
  if (waitMs > 0 && output === 'text') results.forEach(print);
  out(output === 'json' ? formatJson(results) : `\n${formatSummary(results)}`);
  return passed(results) ? 0 : 1;
}

async function stat(args: string[]): Promise<number> {
  const { values, positionals } = parse('stat', args, {
    namespace: { type: 'string', short: 'n' }, 'all-namespaces': { type: 'boolean', short: 'A' },
    from: { type: 'string' }, to: { type: 'string' }, 'from-namespace': { type: 'string' }, 'to-namespace': { type: 'string' },
    window: { type: 'string', short: 'w' }, prometheus: { type: 'string' }, output: { type: 'string', short: 'o' },
    kubeconfig: { type: 'string' }, context: { type: 'string' },
  }, true);
  if (values.help) return help('stat');
  const output = values.output ?? 'table';
  if (output !== 'table' && output !== 'json') throw usageError(`--output must be table or json, not "${output}"`, 'stat');
  if (values.from && values.to) throw usageError('give --from or --to, not both', 'stat');
  const { kind, name } = parseResource(positionals);
  const windowSeconds = parseWindow(values.window ?? '30s');
  const kc = loadKubeConfig({ kubeconfig: values.kubeconfig, context: values.context });
  const current = values.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const query: StatQuery = {
    kind, name, namespace: values['all-namespaces'] ? undefined : current, windowSeconds,
    from: values.from ? parseEdge('--from', values.from, values['from-namespace'] ?? current) : undefined,
    to: values.to ? parseEdge('--to', values.to, values['to-namespace'] ?? current) : undefined,
  };
  const show = progress(process.stderr, output !== 'json');
  const rows = values.prometheus ? await statFromPrometheus(values.prometheus, query, show, () => meshedPods(kc, query)) : await statFromProxies(kc, query, show);
  if (rows.length === 0) await assertNamespacesExist(kc, query);
  const report = { kind, windowSeconds: query.windowSeconds, rows };
  out(output === 'json' ? formatStatJson(report) : formatTable(report, query.namespace === undefined || query.from !== undefined));
  return 0;
}

function completion(args: string[]): number {
  const { values, positionals } = parse('completion', args, {}, true);
  if (values.help) return help('completion');
  const [shell] = positionals;
  if (positionals.length !== 1 || !(SHELLS as readonly string[]).includes(shell ?? '')) throw usageError(`say which shell: ${SHELLS.join(' or ')}`, 'completion');
  out(completionScript(shell as Shell));
  return 0;
}

/** `kubectl skein __complete <words...>`: kubectl's plugin completion (kubectl_complete-skein) and the shell scripts call this. */
function complete(args: string[]): number {
  out(formatCompletion(completeWords(args, Object.keys(HELP).filter((c) => c !== 'skein'))));
  return 0;
}

function help(command = 'skein'): number {
  out(HELP[command] ?? HELP.skein ?? '');
  return 0;
}

const COMMANDS: Record<string, (args: string[]) => Promise<number> | number> = {
  install, uninstall, inject, check, stat, completion, __complete: complete,
  version: (args) => {
    const { values } = parse('version', args, {});
    if (values.help) return help('version');
    out(`kubectl-skein ${CLI_VERSION}`);
    return 0;
  },
  help: (args) => help(args[0] === '--help' || args[0] === '-h' ? 'help' : args[0]),
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') return help();
  if (command === '--version') return COMMANDS.version!(rest);
  const run = COMMANDS[command];
  if (!run) throw usageError(`unknown command "${command}"`);
  return run(rest);
}

/** Runs one command line and sets the exit code; every error becomes one line on stderr. */
export async function runCli(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`kubectl skein: ${err.code}: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`kubectl skein: unexpected_error: ${describeUnexpected(err)}${process.env.SKEIN_DEBUG ? `\n${(err as Error).stack ?? ''}` : ' (SKEIN_DEBUG=1 shows where)'}\n`);
      process.exitCode = 1;
    }
  }
}

// No top-level await: the single executable (cli/sea/) bundles this module as CommonJS.
if (import.meta.main) void runCli(process.argv.slice(2));
