/**
 * The page side of the model workers: starting them (same-origin or from another origin) and the
 * PolicyService / PrmService the coordinator talks to, backed by comlink.
 */
/// <reference types="vite/client" />
import * as Comlink from 'comlink';
import policyWorkerUrl from '../../workers/policy.worker.ts?worker&url';
import prmWorkerUrl from '../../workers/prm.worker.ts?worker&url';
import type { PolicyInit, PolicyWorkerApi, PrmInit, PrmWorkerApi, WorkerEvent } from '../../workers/protocol';
import { unpackRows } from '../../workers/protocol';
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
import { callGuard, startModuleWorker } from './trampoline';

export { startModuleWorker };

/** A worker died (an uncaught error, its script did not load, or it was terminated under us). */
export class WorkerCrashed extends Error {
  override name = 'WorkerCrashed';
  constructor(
    readonly worker: 'policy' | 'prm',
    message: string,
  ) {
    super(message);
  }
}

/** A worker and its comlink proxy; `terminate` ends the thread. */
export interface WorkerHandle<T> {
  remote: Comlink.Remote<T>;
  /**
   * `p` (a call on `remote`), failed with WorkerCrashed if the worker crashes first or has crashed.
   * (Not Promise.race against a crash promise: a promise that stays pending for the worker's life
   * would keep every call's result reachable through its reaction list.)
   */
  call<R>(p: Promise<R>): Promise<R>;
  terminate(): void;
  /** End the thread as a crash would: every pending and later call rejects with WorkerCrashed. */
  crash(reason: string): void;
}

function open<T>(url: string, name: 'policy' | 'prm', onCrash: (e: WorkerCrashed) => void): WorkerHandle<T> {
  const worker = startModuleWorker(url, name);
  const guard = callGuard();
  const remote = Comlink.wrap<T>(worker);
  let ended = false;
  const terminate = () => {
    if (ended) return;
    ended = true;
    remote[Comlink.releaseProxy]();
    worker.terminate();
  };
  const crash = (message: string) => {
    const e = new WorkerCrashed(name, message);
    guard.fail(e);
    onCrash(e);
  };
  worker.addEventListener('error', (e) => {
    crash(`the ${name} worker crashed: ${e.message || 'its script did not load'}`);
  });
  return {
    remote,
    call: guard.call,
    terminate,
    crash(reason) {
      terminate();
      crash(`the ${name} worker crashed: ${reason}`);
    },
  };
}

/** Start a model worker, initialise it with its checkpoint (structured-cloned), wrap its service. */
async function startWorker<
  Init extends PolicyInit | PrmInit,
  Api extends { init(init: Init, onEvent: (e: WorkerEvent) => void): Promise<BackendInfo> },
  Service,
>(
  url: string,
  name: 'policy' | 'prm',
  init: Init,
  onEvent: (e: WorkerEvent) => void,
  onCrash: (e: WorkerCrashed) => void,
  makeService: (handle: WorkerHandle<Api>) => Service,
): Promise<{ handle: WorkerHandle<Api>; service: Service; info: BackendInfo }> {
  const handle = open<Api>(url, name, onCrash);
  try {
    const info = await handle.call(
      handle.remote.init(
        // (The generic Init hides from comlink's types that it is plain, cloneable data.)
        init as Comlink.UnproxyOrClone<Init>,
        Comlink.proxy(onEvent),
      ),
    );
    return { handle, service: makeService(handle), info };
  } catch (e) {
    handle.terminate();
    throw e;
  }
}

export function startPolicyWorker(
  init: PolicyInit,
  onEvent: (e: WorkerEvent) => void,
  onCrash: (e: WorkerCrashed) => void,
) {
  return startWorker<PolicyInit, PolicyWorkerApi, RemotePolicyService>(
    policyWorkerUrl,
    'policy',
    init,
    onEvent,
    onCrash,
    (h) => new RemotePolicyService(h),
  );
}

export function startPrmWorker(
  init: PrmInit,
  onEvent: (e: WorkerEvent) => void,
  onCrash: (e: WorkerCrashed) => void,
) {
  return startWorker<PrmInit, PrmWorkerApi, RemotePrmService>(
    prmWorkerUrl,
    'prm',
    init,
    onEvent,
    onCrash,
    (h) => new RemotePrmService(h),
  );
}

/** The coordinator's PolicyService over the policy worker; a crashed worker fails the call. */
export class RemotePolicyService implements PolicyService {
  private readonly remote: Comlink.Remote<PolicyWorkerApi>;
  private readonly call: WorkerHandle<PolicyWorkerApi>['call'];

  constructor(handle: WorkerHandle<PolicyWorkerApi>) {
    this.remote = handle.remote;
    this.call = handle.call;
  }

  describe() {
    return this.call(this.remote.describe());
  }

  async generate(
    requests: GenerateRequest[],
    opts: { temperature: number; topP: number; greedy?: boolean },
  ): Promise<GenerateResult> {
    const gen = await this.call(this.remote.generate(requests, opts));
    return { texts: gen.texts, logps: unpackRows(gen.logps) };
  }

  update(batch: UpdateBatch, opts: UpdateOptions): Promise<UpdateStats> {
    // Structured-cloned: the coordinator keeps its batch (it reads it again for the trained-token count).
    return this.call(this.remote.update(batch, opts));
  }

  evaluate(opts: Partial<EvalOptions>): Promise<EvalResult> {
    return this.call(this.remote.evaluate(opts));
  }

  checkpoint(meta: Record<string, unknown>): Promise<StoredCheckpoint> {
    return this.call(this.remote.checkpoint(meta));
  }

  load(ck: StoredCheckpoint): Promise<void> {
    return this.call(this.remote.load(ck));
  }

  numTensors(): Promise<number> {
    return this.call(this.remote.numTensors());
  }
}

/** The coordinator's PrmService over the PRM worker; a crashed worker fails the call. */
export class RemotePrmService implements PrmService {
  constructor(private readonly handle: WorkerHandle<PrmWorkerApi>) {}

  async scoreSteps(items: { prompt: string; completion: string }[]): Promise<number[][]> {
    const scores = await this.handle.call(this.handle.remote.scoreSteps(items));
    return unpackRows(scores).map((row) => Array.from(row));
  }
}
