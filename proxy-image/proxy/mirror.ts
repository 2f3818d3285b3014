// RequestMirror: a copy of a request sent to another Service, fire and
// forget. The copy leaves only once the original's body is known (no body,
// or one small enough to be buffered for retries: a streamed body of unknown
// length is not mirrored, as it cannot be read twice), goes to an endpoint
// of the mirror's balancer over the same mTLS sessions as any request, and
// its answer is read and dropped. Nothing about it reaches the client: it is
// not awaited, its errors are caught here, and a copy that takes longer
// than MIRROR_TIMEOUT_MS is cancelled. Each one is counted (mirror_total).
import http, { type IncomingHttpHeaders } from 'node:http';
import { constants as h2 } from 'node:http2';
import type { Endpoint } from '../../api/discovery-protocol.ts';
import type { Balancer, Pick as Picked } from './balancer.ts';
import type { EndpointLayer } from './endpoint.ts';
import { authorityOf, endToEndHeaders, ORIG_PROTO } from './headers.ts';

/** How long a mirrored copy may take before it is cancelled: a slow mirror must not pile up copies. */
export const MIRROR_TIMEOUT_MS = 10_000;

/** mirror_total's `result`: answered (below 500), failed (5xx, no endpoint, error, timeout), or skipped (a streamed body, or not drawn by percent). */
export type MirrorResult = 'answered' | 'failed' | 'skipped';

export interface MirrorTarget { service: string; balancer: Balancer<Endpoint> | undefined; percent: number }

export interface MirrorOptions {
  endpoints: Pick<EndpointLayer, 'h2' | 'plain'>;
  onResult: (service: string, result: MirrorResult) => void;
  random?: () => number;
  timeoutMs?: number;
}

export interface MirroredRequest { method: string; url: string; headers: IncomingHttpHeaders; httpVersionMajor?: number }

export class Mirror {
  readonly #o: MirrorOptions;

  constructor(o: MirrorOptions) {
    this.#o = o;
  }

  /** `body`: the request's whole body, undefined when it has none, false when it is streamed (not mirrored). Never throws, never waits. */
  send(targets: readonly MirrorTarget[], req: MirroredRequest, body: Buffer | undefined | false): void {
    for (const t of targets) {
      if (body === false || (t.percent < 100 && (this.#o.random ?? Math.random)() * 100 >= t.percent)) { this.#o.onResult(t.service, 'skipped'); continue; }
      const pick = t.balancer?.pick();
      if (!pick) { this.#o.onResult(t.service, 'failed'); continue; }
      void this.#copy(pick, req, body).then((ok) => {
        pick.done({ ok });
        this.#o.onResult(t.service, ok ? 'answered' : 'failed');
      });
    }
  }

  /** Resolves whether an answer below 500 came; never rejects. */
  async #copy(pick: Picked<Endpoint>, req: MirroredRequest, body: Buffer | undefined): Promise<boolean> {
    const e = pick.endpoint;
    const timeoutMs = this.#o.timeoutMs ?? MIRROR_TIMEOUT_MS;
    const headers = endToEndHeaders(req.headers);
    delete headers.host;
    try {
      if (e.identity) {
        const session = await this.#o.endpoints.h2(e);
        pick.begin();
        // As for any request (carriers.ts): the peer proxy speaks HTTP/1.1 to its app when the client did.
        if (req.httpVersionMajor !== 2) headers[ORIG_PROTO] = 'HTTP/1.1';
        return await new Promise<boolean>((resolve) => {
          const s = session.request({ ...headers, ':method': req.method, ':path': req.url, ':authority': authorityOf(req.headers) ?? `${e.ip}:${e.port}` });
          let answered = false;
          s.setTimeout(timeoutMs, () => s.close(h2.NGHTTP2_CANCEL));
          s.on('response', (h) => { answered = Number(h[':status']) < 500; });
          s.on('error', () => {});
          s.on('close', () => resolve(answered));
          s.resume();
          s.end(body);
        });
      }
      const target = this.#o.endpoints.plain(e);
      pick.begin();
      return await new Promise<boolean>((resolve) => {
        const r = http.request({ agent: target.agent, host: target.host, port: target.port, method: req.method, path: req.url, setHost: false, headers: { ...headers, host: authorityOf(req.headers) ?? `${e.ip}:${e.port}` }, timeout: timeoutMs });
        r.on('response', (res) => { const ok = (res.statusCode ?? 500) < 500; res.resume(); res.on('end', () => resolve(ok)); res.on('error', () => resolve(ok)); });
        r.on('timeout', () => r.destroy());
        r.on('error', () => resolve(false));
        r.end(body);
      });
    } catch {
      return false;
    }
  }
}
