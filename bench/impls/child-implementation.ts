import type { Cell, DecodeImplementation, StepTimes, StreamTime } from './decode-implementation.js';
import { LineProtocolChild } from './line-protocol-child.js';

/** A {@link DecodeImplementation} run by a child process that speaks bench/c/attention.c's protocol. */
export function childImplementation(id: string, label: string, child: LineProtocolChild, threads: number): DecodeImplementation {
  return {
    id,
    label,
    async setup(cell: Cell) {
      await child.request(`setup ${cell.heads} ${cell.headDim} ${cell.n} ${threads}`);
    },
    async steps(count: number): Promise<StepTimes> {
      const reply = await child.request(`steps ${count}`);
      return { times: reply.times as number[], output: reply.output as number[] };
    },
    async teardown() {
      // The next setup replaces the cache; a tiny one frees the big one at once.
      await child.request(`setup 1 1 1 ${threads}`);
    },
    async stream(heads: number, headDim: number, tokens: number): Promise<StreamTime> {
      const reply = await child.request(`stream ${heads} ${headDim} ${tokens} ${threads}`);
      return { seconds: reply.seconds as number, output: reply.output as number[] };
    },
    close: () => child.close(),
  };
}
