import { TestScheduler } from 'rxjs/testing';
import { expect } from 'vitest';
import { AttentionError } from '../../../src/index.js';
import type { AttentionStep } from '../../../src/index.js';
import { expectClose } from '../../support/close.js';

/**
 * A TestScheduler for streams of AttentionSteps and vectors: frames, kinds and indices must match
 * exactly, numbers within `tolerance` (scaled), and an AttentionError matches one with the same
 * code and details (its message is checked by the tests that care).
 */
export function stepScheduler(tolerance = 1e-12): TestScheduler {
  return new TestScheduler((actual, expected) => {
    if (!isMessages(actual) || !isMessages(expected)) return expect(actual).toEqual(expected);
    const shape = (messages: Message[]) => messages.map((m) => `${m.frame}:${m.notification.kind}`);
    expect(shape(actual)).toEqual(shape(expected));
    actual.forEach((message, n) => {
      const reference = expected[n]!.notification;
      const at = `frame ${message.frame}`;
      if (message.notification.kind === 'N') expectSameValue(message.notification.value, reference.value, tolerance, at);
      if (message.notification.kind === 'E') expectSameError(message.notification.error, reference.error);
    });
  });
}

interface Message {
  readonly frame: number;
  readonly notification: { readonly kind: 'N' | 'E' | 'C'; readonly value?: unknown; readonly error?: unknown };
}

function isMessages(x: unknown): x is Message[] {
  return Array.isArray(x) && x.every((m) => typeof m === 'object' && m !== null && 'frame' in m && 'notification' in m);
}

function isStep(x: unknown): x is AttentionStep {
  return typeof x === 'object' && x !== null && 'index' in x && 'output' in x;
}

function expectSameValue(actual: unknown, expected: unknown, tolerance: number, at: string): void {
  if (isStep(expected)) {
    expect(isStep(actual), `${at}: a step`).toBe(true);
    const step = actual as AttentionStep;
    expect(step.index, `${at}: index`).toBe(expected.index);
    expectClose(step.output, expected.output, tolerance, `${at}: output of token ${expected.index}`);
  } else if (ArrayBuffer.isView(expected) || Array.isArray(expected)) {
    expectClose(actual as ArrayLike<number>, expected as ArrayLike<number>, tolerance, `${at}: vector`);
  } else {
    expect(actual).toEqual(expected);
  }
}

function expectSameError(actual: unknown, expected: unknown): void {
  if (!(expected instanceof AttentionError)) return expect(actual).toEqual(expected);
  expect(actual).toBeInstanceOf(AttentionError);
  const error = actual as AttentionError;
  expect({ code: error.code, details: error.details }).toEqual({ code: expected.code, details: expected.details });
}
