/**
 * The page side of the model workers: starting them (same-origin or from another origin) and the
 * PolicyService / PrmService the coordinator talks to, backed by comlink.
 */
/// <reference types="vite/client" />
import * as Comlink from 'comlink';
import policyWorkerUrl from '../../workers/policy.worker.ts?worker&url';
import prmWorkerUrl from '../../workers/prm.worker.ts?worker&url';
import type { PolicyInit, PolicyWorkerApi, PrmInit, PrmWorkerApi, WorkerEvent } from '../../workers/protocol';
import { buffersOf, unpackRows } from '../../workers/protocol';
import type { EvalOptions, EvalResult } from '../core/evaluate';
import type { UpdateBatch } from '../core/rl/loss';
import type {
  GenerateRequest,
  GenerateResult,
  PolicyService,
  PrmService,
  StoredCheckpoint,
  UpdateOptions,
  UpdateStats,
} from '../core/rl/services';
import type { BackendInfo } from './session-api';

/**
 * Start a module worker from a URL resolved against this module (not the page). A worker script
 * from another origin cannot be started directly, so there a same-origin blob module imports it
 * (the asset server must send CORS headers); its own `import.meta.url` stays the real one, so the
 * worker finds its WASM binaries next to it.
 */
export function startModuleWorker(url: string | URL, name: string): Worker {
  const abs = new URL(url, import.meta.url);
  if (abs.origin === self.location.origin) return new Worker(abs, { type: 'module', name });
  const trampoline = URL.createObjectURL(
    new Blob([`import ${JSON.stringify(abs.href)};`], { type: 'text/javascript' }),
  );
  const worker = new Worker(trampoline, { type: 'module', name });
  setTimeout(() => URL.revokeObjectURL(trampoline), 60_000);
  return worker;
}

/** A worker and its comlink proxy; `terminate` ends the thread. */
export interface WorkerHandle<T> {
  remote: Comlink.Remote<T>;
  terminate(): void;
}

function open<T>(url: string, name: string, onCrash: (message: string) => void): WorkerHandle<T> {
  const worker = startModuleWorker(url, name);
  worker.addEventListener('error', (e) => onCrash(`${name} worker failed: ${e.message || 'script error'}`));
  const remote = Comlink.wrap<T>(worker);
  return {
    remote,
    terminate() {
      remote[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}

/** A copy of a checkpoint whose buffer can be moved into a worker (the caller keeps its own). */
export function transferableCopy(ck: StoredCheckpoint): StoredCheckpoint {
  const copy = { manifestJson: ck.manifestJson, blob: ck.blob.slice() };
  return Comlink.transfer(copy, buffersOf(copy.blob));
}

export async function startPolicyWorker(
  init: PolicyInit,
  onEvent: (e: WorkerEvent) => void,
  onCrash: (message: string) => void,
): Promise<{ handle: WorkerHandle<PolicyWorkerApi>; service: RemotePolicyService; info: BackendInfo }> {
  const handle = open<PolicyWorkerApi>(policyWorkerUrl, 'policy', onCrash);
  try {
    const info = await handle.remote.init(
      { ...init, checkpoint: transferableCopy(init.checkpoint) },
      Comlink.proxy(onEvent),
    );
    return { handle, service: new RemotePolicyService(handle.remote), info };
  } catch (e) {
    handle.terminate();
    throw e;
  }
}

export async function startPrmWorker(
  init: PrmInit,
  onEvent: (e: WorkerEvent) => void,
  onCrash: (message: string) => void,
): Promise<{ handle: WorkerHandle<PrmWorkerApi>; service: RemotePrmService; info: BackendInfo }> {
  const handle = open<PrmWorkerApi>(prmWorkerUrl, 'prm', onCrash);
  try {
    const info = await handle.remote.init(
      { ...init, checkpoint: transferableCopy(init.checkpoint) },
      Comlink.proxy(onEvent),
    );
    return { handle, service: new RemotePrmService(handle.remote), info };
  } catch (e) {
    handle.terminate();
    throw e;
  }
}

/** The coordinator's PolicyService over the policy worker. */
export class RemotePolicyService implements PolicyService {
  constructor(private readonly remote: Comlink.Remote<PolicyWorkerApi>) {}

  describe() {
    return this.remote.describe();
  }

  async generate(
    requests: GenerateRequest[],
    opts: { temperature: number; topP: number; greedy?: boolean },
  ): Promise<GenerateResult> {
    const gen = await this.remote.generate(requests, opts);
    return { texts: gen.texts, logps: unpackRows(gen.logps) };
  }

  update(batch: UpdateBatch, opts: UpdateOptions): Promise<UpdateStats> {
    // The coordinator reads the batch again after the update (trained-token count), so the worker
    // gets copies it can own: one copy each, moved rather than cloned a second time.
    const owned: UpdateBatch = {
      B: batch.B,
      T: batch.T,
      ids: batch.ids.slice(),
      roles: batch.roles.slice(),
      oldLogps: batch.oldLogps.slice(),
      advantages: batch.advantages.slice(),
      weights: batch.weights.slice(),
      refLogps: batch.refLogps?.slice(),
    };
    return this.remote.update(
      Comlink.transfer(
        owned,
        buffersOf(owned.ids, owned.roles, owned.oldLogps, owned.advantages, owned.weights, owned.refLogps),
      ),
      opts,
    );
  }

  evaluate(opts: Partial<EvalOptions>): Promise<EvalResult> {
    return this.remote.evaluate(opts);
  }

  checkpoint(meta: Record<string, unknown>): Promise<StoredCheckpoint> {
    return this.remote.checkpoint(meta);
  }

  load(ck: StoredCheckpoint): Promise<void> {
    return this.remote.load(transferableCopy(ck));
  }

  numTensors(): Promise<number> {
    return this.remote.numTensors();
  }
}

/** The coordinator's PrmService over the PRM worker. */
export class RemotePrmService implements PrmService {
  constructor(private readonly remote: Comlink.Remote<PrmWorkerApi>) {}

  async scoreSteps(items: { prompt: string; completion: string }[]): Promise<number[][]> {
    return unpackRows(await this.remote.scoreSteps(items)).map((row) => Array.from(row));
  }
}
