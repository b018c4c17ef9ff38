/**
 * <sl-checkpoints>: the runs saved in this browser (IndexedDB, src/storage) with their checkpoints:
 * resume, delete, export (a download) and import (a file). Emits 'resume-run' with the run and its
 * stored metrics; the page creates the resumed session. A run that another tab trains (it owns
 * the run's Web Lock: src/storage/ownership.ts) is shown as busy and cannot be resumed or deleted;
 * the list refreshes by itself when that tab lets the run go.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { IterationMetrics } from '../core/rl/trainer';
import { type CheckpointInfo, checkpointFileName, openStore, type RunRecord, type Store } from '../storage';
import { bytes } from './format';
import { ALGO_LABEL } from './knobs';
import { errorMessage } from './run-model';
import { base, define, emit } from './styles';

export interface ResumeRequest {
  run: RunRecord;
  metrics: IterationMetrics[];
}

interface Row {
  run: RunRecord;
  checkpoints: CheckpointInfo[];
}

export class SlCheckpoints extends LitElement {
  static override properties = {
    namespace: {},
    refreshKey: {},
    activeRunIds: { attribute: false },
    task: {},
    busyRunIds: { state: true },
    rows: { state: true },
    message: { state: true },
    failure: { state: true },
    loadError: { state: true },
    usage: { state: true },
  };
  /** IndexedDB namespace to list. */
  declare namespace: string;
  /** Any change of this value re-reads the store (the page passes the latest checkpoint iterations). */
  declare refreshKey: string;
  /** Runs a live session writes to: they cannot be deleted or resumed from here. */
  declare activeRunIds: string[];
  /** The page's task: an imported checkpoint of another task is refused. Empty: any task. */
  declare task: string;
  /** Runs another tab owns now. */
  declare busyRunIds: Set<string>;
  /** Cancels the waits for busy runs to be freed (a new list, or the panel going away). */
  private waits: AbortController | null = null;
  declare rows: Row[];
  declare message: string;
  /** What went wrong with the last action (import, export, delete, resume). */
  declare failure: string;
  /** Why the store cannot be read (no IndexedDB, a newer database, ...). */
  declare loadError: string;
  declare usage: string;
  private store: Store | null = null;

  static override styles = [
    base,
    css`
      :host {
        display: block;
        min-width: 0;
      }
      ul.runs {
        list-style: none;
        margin: 8px 0;
        padding: 0;
        display: grid;
        gap: 8px;
      }
      li.run {
        background: var(--sl-bg);
        border: 1px solid var(--sl-border);
        border-radius: var(--sl-radius);
        padding: 6.4px 8px;
        min-width: 0;
      }
      .head {
        display: flex;
        flex-wrap: wrap;
        gap: 4px 12px;
        align-items: baseline;
      }
      .actions {
        display: flex;
        flex-wrap: wrap;
        gap: 6.4px;
        margin-top: 4.8px;
      }
      ul.cks {
        list-style: none;
        margin: 4.8px 0 0;
        padding: 0;
        font-size: 14.1px;
        display: grid;
        gap: 4px;
      }
      ul.cks li {
        display: flex;
        flex-wrap: wrap;
        gap: 6.4px;
        align-items: center;
      }
      ul.cks button {
        min-height: 30.4px;
        padding: 0.1em 0.6em;
      }
      .import {
        display: grid;
        grid-template-columns: minmax(0, 1fr);
        gap: 3.2px;
        margin-top: 8px;
      }
      input[type='file'] {
        width: 100%;
        min-width: 0;
        border: 0;
        padding: 0;
        min-height: 0;
      }
    `,
  ];

  constructor() {
    super();
    this.namespace = 'scope-lab';
    this.refreshKey = '';
    this.activeRunIds = [];
    this.task = '';
    this.busyRunIds = new Set();
    this.rows = [];
    this.message = '';
    this.failure = '';
    this.loadError = '';
    this.usage = '';
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.waits?.abort();
    this.store?.close();
    this.store = null;
  }

  protected override willUpdate(changed: Map<PropertyKey, unknown>): void {
    if (changed.has('namespace')) {
      this.store?.close();
      this.store = null;
    }
    if (changed.has('namespace') || changed.has('refreshKey')) void this.refresh();
  }

  private async open(): Promise<Store> {
    this.store ??= await openStore(this.namespace);
    return this.store;
  }

  /** Re-read runs, checkpoints and the storage estimate. */
  async refresh(): Promise<void> {
    try {
      const store = await this.open();
      const runs = await store.listRuns();
      this.rows = await Promise.all(
        runs.map(async (run) => ({ run, checkpoints: await store.listCheckpoints(run.id) })),
      );
      this.busyRunIds = await store.runsInUseElsewhere();
      this.watchBusyRuns(store);
      const est = await store.estimate();
      this.usage = est ? `${bytes(est.usage)} used of ${bytes(est.quota)} available to this site` : '';
      this.loadError = '';
    } catch (e) {
      this.loadError = `Saved runs are not available: ${errorMessage(e)}`;
    }
  }

  /** Refresh when a run another tab owns is let go (that tab closed, or its session ended). */
  private watchBusyRuns(store: Store): void {
    this.waits?.abort();
    const waits = new AbortController();
    this.waits = waits;
    for (const id of this.busyRunIds)
      store.whenRunFree(id, waits.signal).then(
        () => {
          if (!waits.signal.aborted) void this.refresh();
        },
        () => {}, // aborted, or the store was closed
      );
  }

  /** Run a store action, then say what happened (or what went wrong) and re-read the list. */
  private async act(what: () => Promise<string>): Promise<void> {
    try {
      this.message = await what();
      this.failure = '';
    } catch (e) {
      this.message = '';
      this.failure = errorMessage(e);
    }
    await this.refresh();
  }

  private resume(run: RunRecord): Promise<void> {
    return this.act(async () => {
      const metrics = await (await this.open()).getMetrics(run.id);
      emit<ResumeRequest>(this, 'resume-run', { run, metrics });
      return `Resuming ${ALGO_LABEL[run.config.algo]} from iteration ${run.iter}.`;
    });
  }

  private deleteRun(run: RunRecord): Promise<void> {
    return this.act(async () => {
      await (await this.open()).deleteRun(run.id);
      return `Deleted the ${ALGO_LABEL[run.config.algo]} run and its checkpoints.`;
    });
  }

  private deleteCheckpoint(run: RunRecord, iter: number): Promise<void> {
    return this.act(async () => {
      await (await this.open()).deleteCheckpoint(run.id, iter);
      return `Deleted the checkpoint at iteration ${iter}.`;
    });
  }

  private exportCheckpoint(run: RunRecord, iter: number): Promise<void> {
    return this.act(async () => {
      const data = await (await this.open()).exportCheckpoint(run.id, iter);
      const url = URL.createObjectURL(
        new Blob([data as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }),
      );
      const a = document.createElement('a');
      a.href = url;
      a.download = checkpointFileName(run, iter);
      this.renderRoot.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      return `Exported ${a.download} (${bytes(data.byteLength)}).`;
    });
  }

  private importFile(e: Event): Promise<void> {
    const input = e.target as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return Promise.resolve();
    return this.act(async () => {
      try {
        // The store checks the file's size before reading it, and the page's task.
        const { run, iter } = await (await this.open()).importCheckpoint(
          file,
          this.task ? { task: this.task } : {},
        );
        return `Imported ${file.name}: a paused ${ALGO_LABEL[run.config.algo]} run at iteration ${iter}. Resume it below.`;
      } finally {
        input.value = '';
      }
    });
  }

  private row({ run, checkpoints }: Row) {
    const live = this.activeRunIds.includes(run.id);
    const elsewhere = !live && this.busyRunIds.has(run.id);
    const active = live || elsewhere;
    const c = run.config;
    return html`<li class="run" data-run=${run.id}>
      <div class="head">
        <strong>${ALGO_LABEL[c.algo]} on ${c.task}</strong>
        <span>seed ${c.seed}</span>
        <span>iteration ${run.iter} / ${c.iters}</span>
        <span class="muted">${run.status}${live ? ' (live)' : ''}</span>
        ${elsewhere ? html`<span class="busy" data-busy>in use in another tab</span>` : nothing}
        <span class="muted">${new Date(run.createdAt).toLocaleString()}</span>
      </div>
      <div class="actions">
        <button
          type="button"
          ?disabled=${active || checkpoints.length === 0}
          @click=${() => this.resume(run)}
          aria-label="Resume ${ALGO_LABEL[c.algo]} run from iteration ${run.iter}"
        >
          Resume
        </button>
        <button
          type="button"
          ?disabled=${active}
          @click=${() => this.deleteRun(run)}
          aria-label="Delete ${ALGO_LABEL[c.algo]} run started ${new Date(run.createdAt).toLocaleString()}"
        >
          Delete run
        </button>
      </div>
      ${
        checkpoints.length
          ? html`<ul class="cks" aria-label="Checkpoints">
            ${checkpoints.map(
              (ck) => html`<li>
                <span>iteration ${ck.iter} · ${bytes(ck.bytes)}</span>
                <button type="button" @click=${() => this.exportCheckpoint(run, ck.iter)}>
                  Export<span class="sr-only"> iteration ${ck.iter}</span>
                </button>
                <button type="button" ?disabled=${active} @click=${() => this.deleteCheckpoint(run, ck.iter)}>
                  Delete<span class="sr-only"> checkpoint at iteration ${ck.iter}</span>
                </button>
              </li>`,
            )}
          </ul>`
          : html`<p class="muted">No checkpoint yet.</p>`
      }
    </li>`;
  }

  override render() {
    return html`<h2>Saved runs and checkpoints</h2>
      <p class="muted">
        Runs are saved in this browser as they train (a checkpoint every few iterations, on pause and at the end).
      </p>
      ${this.loadError ? html`<p class="error" role="alert">${this.loadError}</p>` : nothing}
      ${this.failure ? html`<p class="error" role="alert">${this.failure}</p>` : nothing}
      ${this.message ? html`<p role="status">${this.message}</p>` : nothing}
      ${
        this.rows.length
          ? html`<ul class="runs">
            ${this.rows.map((r) => this.row(r))}
          </ul>`
          : html`<p>No saved runs yet.</p>`
      }
      <div class="import">
        <label for="import">Import a checkpoint file (.scopelab)</label>
        <input id="import" type="file" accept=".scopelab,application/octet-stream" @change=${this.importFile} />
      </div>
      ${this.usage ? html`<p class="muted">${this.usage}</p>` : nothing}`;
  }
}

define('sl-checkpoints', SlCheckpoints);

declare global {
  interface HTMLElementTagNameMap {
    'sl-checkpoints': SlCheckpoints;
  }
}
