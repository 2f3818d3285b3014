// Kubernetes MicroTime (Lease renewTime/acquireTime, Event eventTime) must
// carry six fractional digits; the API server refuses JavaScript's three.
export function microTime(d: Date = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
