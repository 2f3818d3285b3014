// Shell completion. One completer, `kubectl-skein __complete <words...>`,
// answers in Cobra's __complete format (a candidate per line, then
// `:<directive>`), which is what kubectl asks a kubectl_complete-skein
// executable for; the bash and zsh scripts call the same completer, so the
// three never disagree.

export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

/** Cobra's directives: 0 lets the shell complete file names, 4 says there is nothing to complete from files. */
export const DIRECTIVE_FILES = 0;
export const DIRECTIVE_NO_FILES = 4;

const FLAGS: Record<string, readonly string[]> = {
  install: ['--overlay', '--trust-domain', '--identity-issuer-dir', '--registry', '--tag', '--gateway-api-crds'],
  uninstall: ['--overlay', '--crds'],
  inject: ['--filename', '-f', '--manual'],
  check: ['--pre', '--output', '--namespace', '--kubeconfig', '--context'],
  stat: ['--namespace', '-n', '--all-namespaces', '-A', '--from', '--to', '--from-namespace', '--to-namespace', '--window', '--prometheus', '--output', '-o', '--kubeconfig', '--context'],
  completion: [],
  version: [],
  help: [],
};

const FLAG_VALUES: Record<string, readonly string[]> = {
  '--overlay': ['base', 'ha', 'cert-manager'],
  '--window': ['10s', '30s', '1m', '5m'],
  '--from': ['deploy/', 'pod/'],
  '--to': ['deploy/', 'pod/'],
};

const OUTPUTS: Record<string, readonly string[]> = { check: ['text', 'json'], stat: ['table', 'json'] };
const FILE_FLAGS = new Set(['--filename', '-f', '--identity-issuer-dir', '--kubeconfig']);

const POSITIONALS: Record<string, readonly string[]> = { stat: ['deploy', 'pod', 'route'], completion: SHELLS, help: Object.keys(FLAGS) };

export interface Completion { candidates: string[]; directive: number }

/** Candidates for the last word (the one being typed) after `kubectl skein`. */
export function completeWords(words: readonly string[], commands: readonly string[]): Completion {
  const cur = words[words.length - 1] ?? '';
  const starting = (list: readonly string[]) => ({ candidates: list.filter((c) => c.startsWith(cur)), directive: DIRECTIVE_NO_FILES });
  if (words.length <= 1) return starting(commands.filter((c) => !c.startsWith('_')));
  const command = words[0] ?? '';
  const prev = words[words.length - 2] ?? '';
  if (FILE_FLAGS.has(prev)) return { candidates: [], directive: DIRECTIVE_FILES };
  if (prev === '--output' || prev === '-o') return starting(OUTPUTS[command] ?? []);
  const values = FLAG_VALUES[prev];
  if (values) return starting(values);
  if (cur.startsWith('-')) return starting(FLAGS[command] ?? []);
  // A command's positional: only the first one is known (stat's kind, completion's shell).
  const positionalsSoFar = words.slice(1, -1).filter((w, i, all) => !w.startsWith('-') && !(all[i - 1] ?? '').startsWith('-'));
  return starting(positionalsSoFar.length === 0 ? POSITIONALS[command] ?? [] : []);
}

export const formatCompletion = (c: Completion): string => [...c.candidates, `:${c.directive}`].join('\n');

const BASH = `# bash completion for kubectl-skein: source <(kubectl skein completion bash)
_kubectl_skein() {
  local cur=\${COMP_WORDS[COMP_CWORD]} out directive
  out=$(kubectl-skein __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return
  directive=\${out##*:}
  out=\${out%:*}
  COMPREPLY=($(compgen -W "$out" -- "$cur"))
  if [ \${#COMPREPLY[@]} -eq 0 ] && [ "$directive" = ${DIRECTIVE_FILES} ]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _kubectl_skein kubectl-skein`;

const ZSH = `#compdef kubectl-skein
# zsh completion for kubectl-skein: source <(kubectl skein completion zsh)
_kubectl_skein() {
  local -a lines
  lines=("\${(@f)$(kubectl-skein __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  local directive=\${lines[-1]#:}
  lines=("\${(@)lines[1,-2]}")
  if (( \${#lines} )); then
    compadd -- "\${lines[@]}"
  elif [[ $directive == ${DIRECTIVE_FILES} ]]; then
    _files
  fi
}
compdef _kubectl_skein kubectl-skein`;

export function completionScript(shell: Shell): string {
  return shell === 'bash' ? BASH : ZSH;
}
