/** The typed arrays every kernel reads and writes. */
export type FloatArray = Float32Array | Float64Array;

/** A constructor of {@link FloatArray}, chosen once from the engine's precision. */
export type FloatArrayConstructor = Float32ArrayConstructor | Float64ArrayConstructor;
