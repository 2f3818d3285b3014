// The identity service's HTTPS endpoint: POST /certify with the pod's token
// as a bearer credential and {"csr": "<PEM>"}; every refusal says why, with a
// stable code, and is counted.
import Fastify, { LogController } from 'fastify';
import { Registry, Counter, Histogram, Gauge } from 'prom-client';
import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../../shared/log.ts';
import { certify, type CertifyDeps, type Review } from './certify.ts';
import { CertifyRefused, type RefusalCode } from './sign.ts';

export function identityMetrics(registry = new Registry()) {
  return {
    registry,
    certified: new Counter({ name: 'skein_identity_certify_total', help: 'Certify requests by result (issued, refused, error)', labelNames: ['result'], registers: [registry] }),
    latency: new Histogram({ name: 'skein_identity_certify_duration_seconds', help: 'Certify latency, TokenReview included', labelNames: ['result'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry] }),
    refused: new Counter({ name: 'skein_identity_refused_total', help: 'Refused certify requests by reason code', labelNames: ['reason'], registers: [registry] }),
    issuerExpiry: new Gauge({ name: 'skein_identity_issuer_expiry_timestamp_seconds', help: 'When the current issuer certificate expires (Unix time)', registers: [registry] }),
  };
}
export type IdentityMetrics = ReturnType<typeof identityMetrics>;

const STATUS: Record<RefusalCode, number> = {
  token_missing: 401, token_invalid: 401, token_not_service_account: 401,
  name_mismatch: 403, extra_names: 403,
  csr_malformed: 400, csr_signature_invalid: 400, key_not_p256: 400,
};

/**
 * A real TokenReview, audience included, bounded so a slow API server cannot hold a certify call forever.
 * The audience may be a function: it follows the trust domain of the MeshIdentity.
 */
export function tokenReviewer(kc: KubeConfig, audience: string | (() => string), timeoutMs = 5_000): (token: string) => Promise<Review> {
  const authn = kc.makeApiClient(AuthenticationV1Api);
  const audienceNow = typeof audience === 'string' ? () => audience : audience;
  return async (token) => {
    const review = authn.createTokenReview({ body: { spec: { token, audiences: [audienceNow()] } } });
    const timeout = new Promise<never>((_r, reject) => setTimeout(() => reject(new Error(`TokenReview took longer than ${timeoutMs} ms`)), timeoutMs).unref());
    const status = (await Promise.race([review, timeout])).status;
    return {
      authenticated: status?.authenticated === true,
      ...(status?.user?.username !== undefined ? { username: status.user.username } : {}),
      ...(status?.audiences !== undefined ? { audiences: status.audiences } : {}),
      ...(status?.error !== undefined ? { error: status.error } : {}),
    };
  };
}

export function buildIdentityServer(o: { tls: SecureContextOptions; deps: CertifyDeps; metrics: IdentityMetrics; logger: Logger }) {
  const app = Fastify({ https: { ...o.tls, minVersion: 'TLSv1.2' }, bodyLimit: 64 * 1024, loggerInstance: o.logger, logController: new LogController({ disableRequestLogging: true }) });
  app.post('/certify', async (request, reply) => {
    const t0 = process.hrtime.bigint();
    const done = (result: string) => {
      o.metrics.certified.inc({ result });
      o.metrics.latency.observe({ result }, Number(process.hrtime.bigint() - t0) / 1e9);
    };
    const auth = request.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
    const csr = (request.body as { csr?: unknown } | null)?.csr;
    try {
      if (typeof csr !== 'string') throw new CertifyRefused('csr_malformed', 'send {"csr": "<PEM certificate request>"}');
      const r = await certify(token, csr, o.deps);
      done('issued');
      o.metrics.issuerExpiry.set(o.deps.issuer().cert.notAfter.getTime() / 1000);
      return { identity: r.identity, certificate: r.certificate, chain: r.chain, notAfter: r.notAfter.toISOString() };
    } catch (err) {
      if (err instanceof CertifyRefused) {
        done('refused');
        o.metrics.refused.inc({ reason: err.code });
        request.log.info({ reason: err.code }, 'certify refused');
        return reply.code(STATUS[err.code]).send({ error: err.code, message: err.message });
      }
      done('error');
      request.log.error({ err }, 'certify failed');
      return reply.code(503).send({ error: 'unavailable', message: 'the identity service could not certify now; retry with backoff' });
    }
  });
  app.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    o.metrics.certified.inc({ result: status < 500 ? 'refused' : 'error' });
    // A body fastify could not read (not JSON, too large) is a refusal with a reason too.
    if (status < 500) o.metrics.refused.inc({ reason: 'bad_request' });
    return reply.code(status).send({ error: status < 500 ? 'bad_request' : 'error', message: err.message });
  });
  app.get('/metrics', async (_req, reply) => reply.type(o.metrics.registry.contentType).send(await o.metrics.registry.metrics()));
  return app;
}
