// Writes Kubernetes objects as Helm templates. The generator puts unique
// tokens where a value or a conditional block belongs, serializes the
// objects with the same YAML library as everything else, then swaps each
// token for its template text: the YAML around the templates is never
// hand-assembled, so it stays what kustomize rendered.
import { stringify } from 'yaml';

const TOKEN = /__SKEIN_TPL_(\d+)__/g;

export class Templater {
  private readonly inline: string[] = [];
  private readonly blocks = new Map<number, { condition: string; value: unknown }>();

  /** A scalar written as this template expression, e.g. `{{ .Values.replicas.webhook }}`. */
  expr(template: string): string {
    this.inline.push(template);
    return `__SKEIN_TPL_${this.inline.length - 1}__`;
  }

  /**
   * Stands for a map entry (`key: value`, put the token as the key's value)
   * or a list item (put the token as the item) that is rendered only when
   * `condition` (a Helm pipeline) is true.
   */
  when(condition: string, value: unknown): string {
    const token = this.expr('');
    this.blocks.set(this.inline.length - 1, { condition, value });
    return token;
  }

  render(object: unknown): string {
    const yaml = stringify(object, { lineWidth: 0 });
    const withBlocks = yaml.split('\n').map((line) => this.blockLine(line)).join('\n');
    return withBlocks.replace(TOKEN, (_, n: string) => this.inline[Number(n)] ?? '');
  }

  private blockLine(line: string): string {
    const m = /^(\s*)(- |[\w.-]+: )__SKEIN_TPL_(\d+)__$/.exec(line);
    const block = m ? this.blocks.get(Number(m[3])) : undefined;
    if (!m || !block) return line;
    const [, indent = '', head = ''] = m;
    const body = head === '- '
      ? indentLines(stringify([block.value], { lineWidth: 0 }), indent)
      : indentLines(stringify({ [head.slice(0, -2)]: block.value }, { lineWidth: 0 }), indent);
    return `{{- if ${block.condition} }}\n${body}\n{{- end }}`;
  }
}

function indentLines(yaml: string, indent: string): string {
  return yaml.trimEnd().split('\n').map((l) => `${indent}${l}`).join('\n');
}

/** Text Helm would read as a template: kustomize output never holds any, and the generator refuses it if it ever does. */
export function assertNoTemplateText(yaml: string, where: string): void {
  if (yaml.includes('{{') || yaml.includes('}}')) throw new Error(`${where} contains "{{" or "}}", which Helm would read as a template; escape it in charts/generate.ts`);
}
