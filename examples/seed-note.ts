// The note's worked case: x_3 is scored against x_1, x_2 and itself, the three scores go through a
// softmax, and a_3 is the weighted sum of x_1, x_2, x_3. Seed mode: no projections, no scaling.
import { createAttention } from '../src/index.js';

const tokens: Record<string, number[]> = {
  x1: [1, 0, 1],
  x2: [0, 2, 0],
  x3: [1, 1, 1],
};

const attn = createAttention({ dim: 3, precision: 'float64', withWeights: true });
const names = Object.keys(tokens);
for (const [i, name] of names.entries()) {
  const x = tokens[name]!;
  const [step] = attn.push(x);
  const scores = names.slice(0, i + 1).map((other) => dotProduct(x, tokens[other]!));
  console.log(`${name} = [${x.join(', ')}]`);
  console.log(`  scores    ${names.slice(0, i + 1).map((other, j) => `${name}·${other} = ${scores[j]}`).join('   ')}`);
  console.log(`  weights   ${Array.from(step!.weights![0]!, (w) => w.toFixed(4)).join('  ')}`);
  console.log(`  a_${i + 1}       [${Array.from(step!.output, (v) => v.toFixed(4)).join(', ')}]`);
}

function dotProduct(a: number[], b: number[]): number {
  return a.reduce((sum, value, c) => sum + value * b[c]!, 0);
}
