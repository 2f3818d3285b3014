// `kubectl skein inject`: marks every pod template in a YAML stream for
// injection (`skein.dev/inject: enabled`) and changes nothing else, or with
// `manual` writes the sidecar itself, computed by the webhook's own injector.
import { parseAllDocuments, stringify, type Document } from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { injectPod } from '../../webhook/inject/inject.ts';
import { INJECT_ANNOTATION } from '../../api/mesh-names.ts';
import type { AddOp } from '../../webhook/inject/patch.ts';
import { CliError } from '../errors.ts';
import { valueAt } from '../manifests.ts';
import { applyEdits, columnOf, ensureEntries, ensureTree, mapAt, type Entry, type TextEdit } from './edits.ts';
import { findWorkloads, type Workload } from './workloads.ts';

export interface InjectOptions {
  manual: boolean;
  /** Written into the pod's created-by annotation in manual mode. */
  version: string;
}

export interface InjectOutput {
  text: string;
  /** One line per workload: what was done, for stderr. */
  report: string[];
}

type Obj = Record<string, unknown>;

/** RFC 6902 `add` on a plain object: what the API server does with the webhook's patch. */
export function applyAddOps(target: Obj, ops: readonly AddOp[]): void {
  for (const op of ops) {
    const tokens = op.path.split('/').slice(1).map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop();
    const parent = valueAt(target, ...tokens);
    if (last === undefined || !parent || typeof parent !== 'object') throw new Error(`cannot apply ${op.path}: its parent does not exist`);
    if (Array.isArray(parent)) parent.splice(last === '-' ? parent.length : Number(last), 0, op.value);
    else (parent as Obj)[last] = op.value;
  }
}

/** Whether the file writes sequences flush with their key (`containers:\n- name`), as kubectl does. */
export function sequencesIndented(source: string): boolean {
  return !/^( *)[^\s#-][^\n]*:[ \t]*\n\1- /m.test(source);
}

function entriesAdded(before: Record<string, string> | undefined, after: Record<string, string> | undefined): [string, string][] {
  return Object.entries(after ?? {}).filter(([k, v]) => before?.[k] !== v);
}

const nonEmpty = (key: string, entries: readonly Entry[]) => (entries.length > 0 ? { [key]: Object.fromEntries(entries) } : {});

/** Manual mode: the webhook's patch, written into the template's metadata (as entries) and spec (rewritten). */
function manualEdits(source: string, doc: Document, w: Workload, version: string, report: string[]): TextEdit[] {
  const template = (valueAt(doc.toJS(), ...w.templatePath) ?? {}) as { metadata?: V1Pod['metadata']; spec?: V1Pod['spec'] };
  const metadata = { ...template.metadata, annotations: { ...template.metadata?.annotations, [INJECT_ANNOTATION]: 'enabled' } };
  const pod: V1Pod = { metadata, ...(template.spec ? { spec: template.spec } : {}) };
  const result = injectPod(pod, undefined, w.namespace ?? 'default', { version });
  const templateMap = mapAt(doc, w.templatePath)!;
  if (!result.decision.inject) {
    report.push(`${w.kind}/${w.name}: annotated only, not injected: ${result.decision.message}`);
    return ensureEntries(source, templateMap, ['metadata', 'annotations'], [[INJECT_ANNOTATION, 'enabled']]);
  }
  const injected = structuredClone(pod) as Obj;
  applyAddOps(injected, result.patch);
  const out = injected as V1Pod;
  const spec = mapAt(doc, [...w.templatePath, 'spec']);
  if (!spec || spec.flow || !spec.range) {
    throw new CliError('unsupported_document', `${w.kind}/${w.name}: --manual needs the pod template's spec as a block map`);
  }
  const column = columnOf(source, spec.range[0]);
  const original = source.slice(spec.range[0], spec.range[1]);
  const lines = stringify(out.spec, { lineWidth: 0, indentSeq: sequencesIndented(source) }).split('\n');
  let text = lines.map((l, i) => (i === 0 || l === '' ? l : ' '.repeat(column) + l)).join('\n');
  if (!original.endsWith('\n')) text = text.replace(/\n$/, '');
  for (const w2 of result.warnings) report.push(`${w.kind}/${w.name}: ${w2}`);
  report.push(`${w.kind}/${w.name}: sidecar written (--manual)`);
  return [
    // One tree, so a template without metadata gets one `metadata:` holding both maps.
    ...ensureTree(source, templateMap, { metadata: {
      ...nonEmpty('annotations', entriesAdded(template.metadata?.annotations, out.metadata?.annotations)),
      ...nonEmpty('labels', entriesAdded(template.metadata?.labels, out.metadata?.labels)),
    } }),
    { start: spec.range[0], end: spec.range[1], text },
  ];
}

/**
 * One YAML stream in, the same stream out with pod templates marked (or
 * injected). `source` names the input in errors: a file path or `stdin`.
 */
export function injectYaml(yaml: string, source: string, opts: InjectOptions): InjectOutput {
  const report: string[] = [];
  const edits: TextEdit[] = [];
  parseAllDocuments(yaml).forEach((doc, index) => {
    const where = `${source}, document ${index + 1}`;
    const problem = doc.errors[0];
    if (problem) throw new CliError('invalid_yaml', `${where}: not valid YAML: ${problem.message.split('\n')[0] ?? ''}`);
    for (const w of findWorkloads(doc.toJS())) {
      const templateMap = mapAt(doc, w.templatePath);
      if (!templateMap) throw new CliError('unsupported_document', `${where}: ${w.kind}/${w.name} has no pod template at ${w.templatePath.join('.')}`);
      try {
        if (opts.manual) edits.push(...manualEdits(yaml, doc, w, opts.version, report));
        else {
          const e = ensureEntries(yaml, templateMap, ['metadata', 'annotations'], [[INJECT_ANNOTATION, 'enabled']]);
          report.push(`${w.kind}/${w.name}: ${e.length > 0 ? 'annotated' : 'already annotated'}`);
          edits.push(...e);
        }
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw new CliError('unsupported_document', `${where}: ${w.kind}/${w.name}: ${(err as Error).message}`);
      }
    }
  });
  return { text: applyEdits(yaml, edits), report };
}
