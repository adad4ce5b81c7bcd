/** Token t's input row of `dim` numbers: smooth, distinct per token and channel, within [−1, 1]. */
export const row = (t: number, dim: number): number[] => Array.from({ length: dim }, (_, c) => Math.sin(t * 1.7 + c * 0.3));
