/**
 * Just enough of the ONNX protobuf schema (onnx/onnx.proto) to write the two small graphs the
 * onnxruntime peer runs, so the benchmark needs neither Python's onnx package nor a model file.
 * Field numbers are the schema's; only the fields used here are written.
 */

/** A node: `op_type(inputs) → outputs` with integer, integer-list and float attributes. */
export interface OnnxNode {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly domain?: string;
  readonly attributes?: Readonly<Record<string, number | readonly number[] | { readonly float: number }>>;
}

/** A float32 graph input or output; a string dimension is symbolic. */
export interface OnnxValue {
  readonly name: string;
  readonly shape: readonly (number | string)[];
}

export interface OnnxGraph {
  readonly nodes: readonly OnnxNode[];
  readonly inputs: readonly OnnxValue[];
  readonly outputs: readonly OnnxValue[];
  /** Opset of the default domain. */
  readonly opset: number;
  /** Extra operator sets, e.g. `{ 'com.microsoft': 1 }`. */
  readonly domains?: Readonly<Record<string, number>>;
  readonly irVersion: number;
}

const FLOAT = 1;
const ATTRIBUTE_FLOAT = 1;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_INTS = 7;

/** The serialized ModelProto of `graph`, ready for `InferenceSession.create(bytes)`. */
export function onnxModel(graph: OnnxGraph): Uint8Array {
  // The default domain is named by the empty string, written like any other.
  const opsets = [concat([stringField(1, ''), varintField(2, graph.opset)])];
  for (const [domain, version] of Object.entries(graph.domains ?? {})) opsets.push(concat([stringField(1, domain), varintField(2, version)]));
  const graphProto = concat([
    ...graph.nodes.map((node) => bytesField(1, nodeProto(node))),
    stringField(2, 'attnstream-bench'),
    ...graph.inputs.map((v) => bytesField(11, valueInfo(v))),
    ...graph.outputs.map((v) => bytesField(12, valueInfo(v))),
  ]);
  return concat([
    varintField(1, graph.irVersion),
    stringField(2, 'attnstream-bench'),
    bytesField(7, graphProto),
    ...opsets.map((o) => bytesField(8, o)),
  ]);
}

function nodeProto(node: OnnxNode): Uint8Array {
  const parts = [
    ...node.inputs.map((name) => stringField(1, name)),
    ...node.outputs.map((name) => stringField(2, name)),
    stringField(4, node.op),
  ];
  for (const [name, value] of Object.entries(node.attributes ?? {})) parts.push(bytesField(5, attribute(name, value)));
  if (node.domain !== undefined) parts.push(stringField(7, node.domain));
  return concat(parts);
}

function attribute(name: string, value: number | readonly number[] | { readonly float: number }): Uint8Array {
  if (typeof value === 'number') return concat([stringField(1, name), varintField(3, value), varintField(20, ATTRIBUTE_INT)]);
  if ('float' in value) return concat([stringField(1, name), floatField(2, value.float), varintField(20, ATTRIBUTE_FLOAT)]);
  return concat([stringField(1, name), ...value.map((v) => varintField(8, v)), varintField(20, ATTRIBUTE_INTS)]);
}

function valueInfo(v: OnnxValue): Uint8Array {
  const dims = v.shape.map((d) => bytesField(1, typeof d === 'number' ? varintField(1, d) : stringField(2, d)));
  const tensorType = concat([varintField(1, FLOAT), bytesField(2, concat(dims))]);
  return concat([stringField(1, v.name), bytesField(2, bytesField(1, tensorType))]);
}

function stringField(number: number, text: string): Uint8Array {
  return bytesField(number, new TextEncoder().encode(text));
}

function bytesField(number: number, bytes: Uint8Array): Uint8Array {
  return concat([varint((number << 3) | 2), varint(bytes.length), bytes]);
}

function varintField(number: number, value: number): Uint8Array {
  return concat([varint(number << 3), varint(value)]);
}

function floatField(number: number, value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setFloat32(0, value, true);
  return concat([varint((number << 3) | 5), bytes]);
}

/** Non-negative integers below 2^53 only: every number written here is a size, an id or a flag. */
function varint(value: number): Uint8Array {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
