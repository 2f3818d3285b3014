// The admission server: fastify over HTTPS (TLS 1.2+, 1.3 preferred by
// negotiation), /inject, /healthz, /readyz, /metrics. Malformed bodies get a
// 400 with the reason; a handler failure answers 500 and is counted, never
// crashes the process.
import Fastify, { LogController } from 'fastify';
import type { SecureContextOptions } from 'node:tls';
import { parseReview, review, BadReview, type AdmissionRequest, type AdmissionResponse } from './admission.ts';
import type { WebhookMetrics } from './metrics.ts';
import type { Logger } from '../shared/log.ts';
import { messageOf } from '../api/errors.ts';

export interface ServerOptions {
  tls: SecureContextOptions;
  metrics: WebhookMetrics;
  logger: Logger;
  /** Each admission endpoint and its handler. */
  handlers: Record<string, (req: AdmissionRequest) => Promise<AdmissionResponse>>;
  ready: () => boolean;
  /**
   * True once the replica is going away. The API server reuses its kept-alive
   * connections to a replica (kube-proxy's conntrack keeps them on this pod)
   * long after the endpoints dropped it, and a request written into a
   * connection just as close() shuts it is reset: with failurePolicy Fail, a
   * refused pod. While draining, every answer says `Connection: close`, so the
   * next request opens a new connection to a replica that stays.
   */
  draining?: () => boolean;
  /** /convert: a ConversionReview in, one out; throws BadConversionReview for a malformed body. */
  convert?: (body: unknown) => unknown;
  /** Pods with many containers and large env can be big; the API server caps requests at 3 MiB. */
  bodyLimit?: number;
}

export function buildServer(o: ServerOptions) {
  const app = Fastify({
    https: { ...o.tls, minVersion: 'TLSv1.2' },
    bodyLimit: o.bodyLimit ?? 4 * 1024 * 1024,
    loggerInstance: o.logger,
    // One line per admission would drown the logs in a burst; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (o.draining?.()) reply.header('connection', 'close');
    return payload;
  });

  for (const [path, handler] of Object.entries(o.handlers)) {
    const endpoint = path.replace(/^\//, '');
    app.post(path, async (request, reply) => {
      const t0 = process.hrtime.bigint();
      const observe = (operation: string, result: string) => {
        o.metrics.admissions.inc({ endpoint, operation, result });
        o.metrics.latency.observe({ endpoint, result }, Number(process.hrtime.bigint() - t0) / 1e9);
      };
      let req: AdmissionRequest;
      try {
        req = parseReview(request.body);
      } catch (err) {
        if (!(err instanceof BadReview)) throw err;
        observe('unknown', 'bad_request');
        return reply.code(400).send({ error: err.code, message: err.message });
      }
      try {
        const response = await handler(req);
        observe(req.operation, !response.allowed ? 'denied' : response.patch ? 'patched' : 'allowed');
        return review(response);
      } catch (err) {
        if (err instanceof BadReview) {
          observe(req.operation, 'bad_request');
          return reply.code(400).send({ error: err.code, message: err.message });
        }
        observe(req.operation, 'error');
        request.log.error({ err, uid: req.uid, endpoint }, 'admission handler failed');
        return reply.code(500).send({ error: 'internal_error', message: messageOf(err) });
      }
    });
  }

  if (o.convert) {
    const convert = o.convert;
    app.post('/convert', (request, reply) => {
      const t0 = process.hrtime.bigint();
      const done = (result: string) => {
        o.metrics.admissions.inc({ endpoint: 'convert', operation: 'CONVERT', result });
        o.metrics.latency.observe({ endpoint: 'convert', result }, Number(process.hrtime.bigint() - t0) / 1e9);
      };
      try {
        const out = convert(request.body) as { response?: { result?: { status?: string } } };
        done(out.response?.result?.status === 'Success' ? 'converted' : 'failed');
        return reply.send(out);
      } catch (err) {
        const bad = err instanceof Error && 'code' in err && err.code === 'bad_conversion_review';
        done(bad ? 'bad_request' : 'error');
        if (!bad) request.log.error({ err }, 'conversion failed');
        return reply.code(bad ? 400 : 500).send({ error: bad ? 'bad_conversion_review' : 'internal_error', message: messageOf(err) });
      }
    });
  }

  // Bodies fastify cannot parse at all (not JSON, wrong content type, too large) are the caller's error.
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, request, reply) => {
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) request.log.error({ err }, 'request failed');
    o.metrics.admissions.inc({ endpoint: request.url.replace(/^\//, ''), operation: 'unknown', result: status >= 500 ? 'error' : 'bad_request' });
    return reply.code(status).send({ error: err.code ?? 'BadRequest', message: err.message });
  });

  app.get('/healthz', (_req, reply) => reply.send('ok'));
  app.get('/readyz', (_req, reply) => reply.code(o.ready() ? 200 : 503).send(o.ready() ? 'ok' : 'not ready'));
  app.get('/metrics', async (_req, reply) => reply.type(o.metrics.registry.contentType).send(await o.metrics.registry.metrics()));
  return app;
}
export type WebhookServer = ReturnType<typeof buildServer>;
