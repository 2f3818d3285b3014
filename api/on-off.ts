// A switch as annotations and SKEIN_* variables write it: enabled or
// disabled (true and false are read too, as users type them).
import { z } from 'zod';

export const onOff = z.enum(['enabled', 'disabled', 'true', 'false'], { error: 'must be enabled or disabled' })
  .transform((v) => v === 'enabled' || v === 'true');

export const formatOnOff = (on: boolean): 'enabled' | 'disabled' => (on ? 'enabled' : 'disabled');
