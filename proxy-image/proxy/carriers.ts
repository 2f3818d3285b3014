// A request as the balance layer carries it (balance.ts Carrier), one kind
// per server that read it: the raw HTTP/1.1 path (h1/server.ts), whose
// requests go to the endpoint's pooled keep-alive connections as bytes, and
// node:http's (HTTP/2, and the requests h1/ hands over), whose requests go
// over the peers' shared h2 session to a meshed endpoint or when the client
// spoke h2, else over the plaintext keep-alive agent.
import type { Endpoint } from '../../api/discovery-protocol.ts';
import type { Carrier } from './balance.ts';
import type { Pick } from './balancer.ts';
import type { EndpointLayer } from './endpoint.ts';
import { toProxyError, type ProxyError } from './errors.ts';
import { ORIG_PROTO } from './headers.ts';
import { relayH1, sendAnswer, sendError } from './h1/relay.ts';
import type { ServerExchange } from './h1/server.ts';
import { hasRequestBody, relayOverH1, relayOverH2, requestHead, rewriteHead, sendAnswer as sendAnswerNode, sendProxyError, type DownstreamRequest, type DownstreamResponse, type Outcome, type RelayOptions } from './relay.ts';
import type { RequestRetries } from './retries.ts';

/** Tells the far side the client spoke HTTP/1.1 (the request still rides the peers' h2 session). */
const FROM_HTTP1 = { [ORIG_PROTO]: 'HTTP/1.1' } as const;

/** A request read by Skein's own HTTP/1.1 server: its head and body as bytes, to a pooled keep-alive connection. */
export function h1Carrier(ex: ServerExchange, endpoints: EndpointLayer): Carrier {
  return {
    req: ex, hasBody: ex.hasBody,
    readBody: () => new Promise((resolve) => {
      const chunks: Buffer[] = [];
      ex.readBody((b) => { chunks.push(b); return true; }, () => resolve(Buffer.concat(chunks)));
    }),
    fail: (err) => sendError(ex, err),
    respond: (status, headers) => sendAnswer(ex, status, headers),
    forward: (chosen, options) => {
      chosen.begin();
      return relayH1(ex, endpoints.h1(chosen.endpoint), options);
    },
  };
}

/** A request node:http or node:http2 read; `h2`: the client spoke HTTP/2. */
export function nodeCarrier(req: DownstreamRequest, res: DownstreamResponse, h2: boolean, endpoints: EndpointLayer): Carrier {
  return {
    req, hasBody: hasRequestBody(req),
    readBody: () => readBody(req),
    fail: (err) => sendProxyError(req, res, err),
    respond: (status, headers) => sendAnswerNode(req, res, status, headers),
    forward: (chosen, options, retries) => forward(chosen, h2, req, res, endpoints, options, retries),
  };
}

/** `retries.unsent()` is asked when the connection to the endpoint failed before the request left: true means try elsewhere. */
async function forward(chosen: Pick<Endpoint>, h2: boolean, req: DownstreamRequest, res: DownstreamResponse, endpoints: EndpointLayer, options: RelayOptions, retries: RequestRetries): Promise<Outcome> {
  const e = chosen.endpoint;
  // A meshed endpoint's proxy gets HTTP/1.1 here too (an Expect: 100-continue request) over the peers' h2 session; the header tells it to speak HTTP/1.1 to its app.
  if (e.identity || h2) {
    const head = rewriteHead(requestHead(req, h2 ? undefined : FROM_HTTP1), options.rewrite);
    try {
      const session = await endpoints.h2(e);
      chosen.begin();
      return await relayOverH2(session, head, req, res, options);
    } catch (err) {
      return unsent(req, res, toProxyError(err), retries);
    }
  }
  return relayOverH1(endpoints.plain(e), rewriteHead(requestHead(req), options.rewrite), req, res, options);
}

/** A connection that failed before the request left: retried elsewhere if the caller says so, else the proxy's error. */
function unsent(req: DownstreamRequest, res: DownstreamResponse, err: ProxyError, retries: RequestRetries): Outcome {
  return retries.unsent() ? { status: err.status, error: err, retried: true } : sendProxyError(req, res, err);
}

/** The whole request body; only called for a declared length ≤ 64 KiB. */
async function readBody(req: DownstreamRequest): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
