/**
 * The watch on the manifest directory: its events only say "look again". A finished write, a
 * rename into place and a delete are acted on at once; a write in progress waits a little.
 *
 * @module
 */

/**
 * True for an event after which the file is complete: the writer closed it (`access`: the
 * agent's own reads cause none), it was renamed into place, or it was deleted.
 */
export function isFinished(event: Deno.FsEvent): boolean {
  return event.kind === "access" || event.kind === "rename" || event.kind === "remove";
}

/** What the loop needs of a directory watch. */
export interface Watch {
  /** Starts watching if not watching the current directory yet (it may not exist). */
  ensure(): Promise<void>;
  /** Stops watching; resolves when the watch has ended. */
  close(): Promise<void>;
}

/**
 * Watches the manifest directory (not recursively). Re-arms itself when the
 * directory appears, or is replaced (a new inode: deleted and made again,
 * or a symlinked directory switched). Each event, and each arming, calls
 * `onEvent` (without an event for an arming).
 */
export class DirectoryWatcher implements Watch {
  #watcher: Deno.FsWatcher | undefined;
  #loop: Promise<void> | undefined;
  #ino: number | null | undefined;

  constructor(readonly dir: string, readonly onEvent: (event?: Deno.FsEvent) => void) {}

  async ensure(): Promise<void> {
    let ino: number | null;
    try {
      ino = (await Deno.stat(this.dir)).ino;
    } catch {
      await this.close(); // Missing for now; the tick keeps looking.
      return;
    }
    if (this.#watcher && ino === this.#ino) return;
    await this.close();
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(this.dir, { recursive: false });
    } catch {
      return;
    }
    this.#watcher = watcher;
    this.#ino = ino;
    this.#loop = (async () => {
      try {
        for await (const event of watcher) this.onEvent(event);
      } catch {
        // The directory went away; fall back to ticks until it is back.
      } finally {
        if (this.#watcher === watcher) this.#watcher = undefined;
      }
    })();
    // A change between the last pass and this watch would be missed: look once more.
    this.onEvent();
  }

  async close(): Promise<void> {
    const w = this.#watcher;
    this.#watcher = undefined;
    this.#ino = undefined;
    try {
      w?.close();
    } catch {
      // Already closed.
    }
    await this.#loop;
    this.#loop = undefined;
  }
}
