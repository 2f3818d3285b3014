// A gRPC app on @grpc/grpc-js (the real gRPC stack, so the mesh is proven
// against what users run): `MODE=server` serves skein.test.Echo with a unary
// Say and a server-streaming Count; `MODE=client` calls TARGET (host:port)
// once a second with both and prints one JSON line per round: what came back,
// the trailers' status, errors by code, and the last few failures in detail
// (when, which call, code and details), so a soak can place each one.
import grpc from '@grpc/grpc-js';
import { hostname } from 'node:os';

const pod = process.env.POD_NAME ?? hostname();
const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString('utf8')),
};

interface SayRequest { text: string }
interface CountRequest { n: number }

const service: grpc.ServiceDefinition = {
  Say: { path: '/skein.test.Echo/Say', requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
  Count: { path: '/skein.test.Echo/Count', requestStream: false, responseStream: true, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
};

function serve(port: number): void {
  const server = new grpc.Server();
  server.addService(service, {
    Say: (call: grpc.ServerUnaryCall<SayRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const trailer = new grpc.Metadata();
      trailer.set('x-pod', pod);
      cb(null, { text: call.request.text, pod }, trailer);
    },
    Count: (call: grpc.ServerWritableStream<CountRequest, unknown>) => {
      const n = Math.min(call.request.n, 1000);
      let i = 0;
      // Spaced writes: the stream must arrive as a stream, not one buffered blob.
      const timer = setInterval(() => {
        if (i >= n || call.cancelled) { clearInterval(timer); call.end(); return; }
        call.write({ i: i++, pod });
      }, 5);
    },
  });
  server.bindAsync(`0.0.0.0:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) { console.error(`grpc: cannot listen on ${port}: ${err.message}`); process.exit(1); }
    console.log(`grpc: ${pod} serving on ${port}`);
  });
  process.on('SIGTERM', () => { server.tryShutdown(() => process.exit(0)); setTimeout(() => process.exit(0), 500).unref(); });
}

function client(target: string): void {
  const Client = grpc.makeGenericClientConstructor(service, 'Echo');
  const c = new Client(target, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (...a: unknown[]) => grpc.ClientUnaryCall | grpc.ClientReadableStream<unknown>>;
  const totals = {
    unaryOk: 0, streamsOk: 0, messages: 0, errors: {} as Record<string, number>, pods: {} as Record<string, number>,
    failures: [] as { at: string; call: string; code: string; details: string }[],
  };
  const fail = (call: string, e: grpc.ServiceError) => {
    const code = grpc.status[e.code] ?? String(e.code);
    totals.errors[code] = (totals.errors[code] ?? 0) + 1;
    totals.failures.push({ at: new Date().toISOString(), call, code, details: e.details.slice(0, 200) });
    // Bounded like the HTTP load's: enough to see a pattern over a long run.
    if (totals.failures.length > 20) totals.failures.shift();
  };
  const round = () => {
    const unary = new Promise<void>((res) => {
      const say = c.Say as (req: SayRequest, cb: (e: grpc.ServiceError | null, v?: { pod: string }) => void) => grpc.ClientUnaryCall;
      say.call(c, { text: 'hi' }, (e, v) => {
        if (e) fail('Say', e);
        else { totals.unaryOk++; if (v) totals.pods[v.pod] = (totals.pods[v.pod] ?? 0) + 1; }
        res();
      });
    });
    const stream = new Promise<void>((res) => {
      const count = c.Count as (req: CountRequest) => grpc.ClientReadableStream<unknown>;
      const s = count.call(c, { n: 20 });
      let got = 0;
      s.on('data', () => { got++; totals.messages++; });
      s.on('error', (e: grpc.ServiceError) => { fail('Count', e); res(); });
      s.on('status', (st: grpc.StatusObject) => { if (st.code === grpc.status.OK && got === 20) totals.streamsOk++; res(); });
    });
    void Promise.all([unary, stream]).then(() => console.log(JSON.stringify({ target, ...totals })));
  };
  const timer = setInterval(round, 1000);
  round();
  process.on('SIGTERM', () => { clearInterval(timer); c.close(); process.exit(0); });
}

const mode = process.env.MODE ?? 'server';
if (mode === 'server') serve(Number(process.env.PORT ?? 9090));
else client(process.env.TARGET ?? '127.0.0.1:9090');
