/**
 * Measured `auto` decisions, kept per configuration key (choiceKey: adapter, browser, tfjs, model
 * shape, probe) in this origin's IndexedDB, so a page measures once per adapter and model. Storage
 * failures (private mode, a blocked database) only cost a new measurement next time.
 */
import { openDB } from 'idb';
import type { CachedChoice } from './choose-backend';

const DB = 'scope-lab-backend-choice';
const STORE = 'choices';

function open() {
  return openDB(DB, 1, {
    upgrade(db) {
      db.createObjectStore(STORE);
    },
  });
}

export async function readChoice(key: string): Promise<CachedChoice | null> {
  try {
    const db = await open();
    try {
      const rec = (await db.get(STORE, key)) as CachedChoice | undefined;
      return rec && rec.key === key ? rec : null;
    } finally {
      db.close();
    }
  } catch {
    return null;
  }
}

/** True when stored. */
export async function storeChoice(rec: CachedChoice): Promise<boolean> {
  try {
    const db = await open();
    try {
      await db.put(STORE, rec, rec.key);
      return true;
    } finally {
      db.close();
    }
  } catch {
    return false;
  }
}
