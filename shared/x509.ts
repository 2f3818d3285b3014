// The one door to @peculiar/x509: it resolves its algorithms through tsyringe,
// which needs the Reflect metadata polyfill loaded before it, and it must be
// told to use Node's WebCrypto. Import x509 from here, never directly.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
