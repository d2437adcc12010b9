import { readFileSync } from 'node:fs';

/**
 * The WebAssembly decoders built with Emscripten (libheif, PDFium) keep everything in one
 * linear memory that grows and never shrinks. Converter processes live long, so one large
 * decode would keep its memory for every later conversion of that process; instead the
 * instance whose heap grew large is dropped after use, and the next decode makes a fresh
 * one from the module compiled once per process (a few milliseconds). An instance that
 * trapped is dropped too: its heap is in no known state.
 */

/** The WebAssembly API, typed here: Kiln's compiler settings carry no DOM library. */
interface WasmInstance {
  exports: object;
}
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => WasmInstance;
}
const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

/** What an Emscripten factory takes to be handed an instance of a module compiled beforehand. */
export interface InstantiateOption {
  instantiateWasm: (imports: object, done: (instance: WasmInstance) => void) => object;
}

/** A heap this large after use drops its instance (a 12 MP photo's decode leaves about 100 MiB). */
const HEAP_KEPT_BYTES = 64 * 1024 * 1024;

let dropped = false;

export class FreshInstances<T extends { HEAPU8: Uint8Array }> {
  private compiled: object | undefined;
  private current: T | undefined;
  private making: Promise<T> | undefined;

  /** `create` calls the Emscripten factory with the option given; `wasmPath` is the module's file. */
  constructor(
    private readonly wasmPath: () => string,
    private readonly create: (option: InstantiateOption) => T | Promise<T>,
  ) {}

  /** The instance in use, made when there is none. */
  async get(): Promise<T> {
    if (this.current) return this.current;
    this.making ??= this.make().finally(() => (this.making = undefined));
    return this.making;
  }

  private async make(): Promise<T> {
    const module = (this.compiled ??= new wasm.Module(readFileSync(this.wasmPath())));
    this.current = await this.create({
      instantiateWasm(imports, done) {
        const instance = new wasm.Instance(module, imports);
        done(instance);
        return instance.exports;
      },
    });
    return this.current;
  }

  /** Whether `instance` is still the one in use (a dropped one's heap is not touched again). */
  isCurrent(instance: T): boolean {
    return this.current === instance;
  }

  /** After a use: drops the instance if its heap grew large. */
  used(instance: T): void {
    if (instance.HEAPU8.length > HEAP_KEPT_BYTES) this.forget(instance);
  }

  /** Drops an instance: after a trap inside it, or when its heap grew large. */
  forget(instance: T): void {
    if (this.current !== instance) return;
    this.current = undefined;
    dropped = true;
  }
}

/**
 * Gives the memory of dropped instances back now rather than at V8's next full collection,
 * where the process exposes `gc` (converter processes do): otherwise a few dropped heaps
 * of large photos wait side by side and swell the process. Called between conversions.
 */
export function releaseDroppedHeaps(): void {
  if (!dropped) return;
  dropped = false;
  (globalThis as { gc?: () => void }).gc?.();
}
