// A one-line status on stderr for long steps, rewritten in place. Only for a
// person watching a terminal: when stderr is a pipe or a file, or the output
// is JSON, nothing is written, so scripts and logs stay clean.

export interface Progress {
  update(text: string): void;
  done(): void;
}

export interface ProgressStream { isTTY?: boolean; write(s: string): unknown }

export const silentProgress: Progress = { update: () => undefined, done: () => undefined };

export function progress(stream: ProgressStream, enabled: boolean): Progress {
  if (!enabled || stream.isTTY !== true) return silentProgress;
  let shown = false;
  return {
    update(text) { stream.write(`\r\x1b[2K${text}`); shown = true; },
    done() { if (shown) stream.write('\r\x1b[2K'); shown = false; },
  };
}
