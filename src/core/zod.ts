/**
 * zod for every schema in scope-lab, switched to `jitless`. Without it zod 4 calls the Function
 * constructor on an empty body as soon as the first object schema is built (a probe), and then
 * compiles fast parsers with it. That is code generated at run time, and under a Content-Security-Policy
 * without 'unsafe-eval' (which the app and widget must run under, see docs/reliability.md) the probe
 * is reported as a violation. Schemas run at module load, so the switch must come before any of
 * them: import `z` from this module, never from 'zod' (tests/safety.test.ts checks that).
 */
import { z } from 'zod';

z.config({ jitless: true });

export { z };
