// A minimal validating admission webhook over HTTPS, for proving that the API
// server reaches a webhook through its Service: it refuses any object labelled
// `skein.dev/e2e-deny`, with the label's value in the message.
// TLS_DIR holds tls.crt and tls.key; PORT defaults to 8443.
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Review {
  request?: { uid?: string; object?: { metadata?: { labels?: Record<string, string> } } };
}

const dir = process.env.TLS_DIR ?? '/tls';
const port = Number(process.env.PORT ?? 8443);
const server = https.createServer({ cert: readFileSync(join(dir, 'tls.crt')), key: readFileSync(join(dir, 'tls.key')) }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let review: Review;
    try {
      review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review;
    } catch {
      res.writeHead(400).end('body is not JSON');
      return;
    }
    const deny = review.request?.object?.metadata?.labels?.['skein.dev/e2e-deny'];
    const response = {
      uid: review.request?.uid ?? '',
      allowed: deny === undefined,
      ...(deny !== undefined ? { status: { code: 403, message: `denied by the e2e webhook: ${deny}` } } : {}),
    };
    console.log(`review ${response.uid}: ${response.allowed ? 'allowed' : 'denied'}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
  });
});
server.listen(port, () => console.log(`admission webhook listening on ${port}`));
process.on('SIGTERM', () => { server.close(); setTimeout(() => process.exit(0), 100).unref(); });
