// The test apps' images (images/catalog.ts builds them; make images IMAGES=--all).
// Explicit tags, so a real kubelet uses the image containerd holds (a
// `:latest` or untagged name would make it pull, and nothing can be pulled).
import { imageRef } from '../../shared/images.ts';

export const IMAGES = {
  echo: imageRef('e2e/echo'),
  tcpEcho: imageRef('e2e/tcp-echo'),
  load: imageRef('e2e/load'),
  grpc: imageRef('e2e/grpc'),
  admission: imageRef('e2e/admission'),
  shell: imageRef('e2e/shell'),
} as const;
