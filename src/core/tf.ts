/**
 * The one place core code gets tfjs from. '@tensorflow/tfjs' (not tfjs-core alone) because it also
 * registers every op's gradient, in Node and in bundles alike. Backends are chosen by the runtime.
 */
export * from '@tensorflow/tfjs';
