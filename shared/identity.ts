// Workload identity, the client side of the certify protocol: a P-256 key
// that never leaves the process and a CSR whose only name is the workload's
// identity (api/identity-names.ts builds the name).
import { x509 } from './x509.ts';
import { EC_P256, generateKeyPair, privateKeyPem } from './tls.ts';

export interface Csr {
  csrPem: string;
  keyPem: string;
  keys: Awaited<ReturnType<typeof generateKeyPair>>;
}

export async function createCsr(identity: string): Promise<Csr> {
  const keys = await generateKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${identity}`,
    keys,
    signingAlgorithm: EC_P256,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: identity }])],
  });
  return { csrPem: csr.toString('pem'), keyPem: await privateKeyPem(keys.privateKey), keys };
}
