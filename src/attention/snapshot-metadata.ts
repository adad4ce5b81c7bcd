import { checkedSnapshot, tensorNames } from '../cache/safetensors.js';
import { AttentionError, shownText } from '../errors.js';
import { snapshotLayers } from './restore-attention-stack.js';
import { assertKnownTensors, ATTENTION_FORMAT, CROSS_ATTENTION_FORMAT, STACK_FORMAT, USER_METADATA_PREFIX } from './snapshot-state.js';

/** The formats of attnstream's snapshots: an engine's, a stack's, a cross-attention's. */
const SNAPSHOT_FORMATS: readonly string[] = [ATTENTION_FORMAT, STACK_FORMAT, CROSS_ATTENTION_FORMAT];

/**
 * The application's metadata of a snapshot, as given to `snapshot({ metadata })` (an engine's, a
 * stack's or a cross-attention's): what resuming needs beside the engine. The file is checked as a
 * restore checks its container (the checksum included), but no engine is built and nothing else
 * is copied, so a server can read it before deciding what to restore onto. `{}` when there is none.
 *
 * @throws AttentionError CORRUPT_SNAPSHOT for damaged bytes (or a tensor no snapshot holds),
 *   UNSUPPORTED_SNAPSHOT for a file that is not one of attnstream's snapshots.
 * @example
 * ```ts
 * import { createAttentionStack, snapshotMetadata } from 'attnstream';
 * const stack = createAttentionStack({ layers: 2, dim: 4 });
 * const saved = stack.snapshot({ metadata: { text: 'the cat', next: '812' } });
 * console.log(snapshotMetadata(saved)); // { text: 'the cat', next: '812' }
 * ```
 */
export function snapshotMetadata(bytes: Uint8Array): Record<string, string> {
  const { entries, metadata } = checkedSnapshot(bytes);
  if (!SNAPSHOT_FORMATS.includes(metadata['format']!)) {
    throw new AttentionError('UNSUPPORTED_SNAPSHOT', `snapshot: format is ${shownText(metadata['format'])}, not one of attnstream's (${SNAPSHOT_FORMATS.join(', ')})`, { field: 'format' });
  }
  // As a restore: with a bit flipped in the checksum's name, the file would otherwise go unchecked.
  assertKnownTensors(tensorNames(entries), metadata['format'] === STACK_FORMAT ? snapshotLayers(metadata) : null);
  return Object.fromEntries(
    Object.entries(metadata)
      .filter(([key]) => key.startsWith(USER_METADATA_PREFIX))
      .map(([key, value]) => [key.slice(USER_METADATA_PREFIX.length), value]),
  );
}
