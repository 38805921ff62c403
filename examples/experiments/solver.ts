import { mulberry32 } from '../shared/random.js';
/**
 * The experiment: the ground-state energy (lowest eigenvalue) of a generated Hamiltonian — a
 * tight-binding ring with random on-site disorder — by shifted power iteration. It is plain
 * CPU-bound code; it runs in a worker thread and reports `{iteration, energy, residual}` after
 * every step through `ctx.progress`, which becomes a sequenced, stored job event.
 */
export interface ExperimentInput {
  /** Matrix size (sites). */
  size: number;
  /** Seed of the disorder, so a run can be reproduced. */
  seed: number;
  /** Stop once the energy moves less than this between two iterations. */
  tolerance: number;
  maxIterations: number;
  /** A pause after each step, in ms, so that a person can watch the curve converge (0: none). */
  stepDelayMs?: number;
}

export interface Convergence {
  iteration: number;
  energy: number;
  residual: number;
}

export interface ExperimentResult {
  iterations: number;
  energy: number;
  converged: boolean;
}

interface Ctx {
  signal: AbortSignal;
  progress(data: unknown): void;
}

/** Nothing ever notifies it: Atomics.wait on it is a plain sleep of the calling thread. */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

export function runExperiment(input: ExperimentInput, ctx: Ctx): ExperimentResult {
  const n = input.size;
  const h = hamiltonian(n, input.seed);
  // Gershgorin bound: sigma - H is positive definite, and its dominant eigenvector is H's ground state.
  let sigma = -Infinity;
  for (let i = 0; i < n; i++) {
    let row = 0;
    for (let j = 0; j < n; j++) row += Math.abs(h[i * n + j]!);
    sigma = Math.max(sigma, row);
  }
  let v = new Float64Array(n);
  const rand = mulberry32(input.seed ^ 0x9e3779b9);
  for (let i = 0; i < n; i++) v[i] = rand() - 0.5;
  normalize(v);
  const hv = new Float64Array(n);
  let energy = Infinity;
  let iteration = 0;
  let converged = false;
  while (iteration < input.maxIterations) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    iteration++;
    matVec(h, v, hv, n);
    const next = energy;
    energy = dot(v, hv);
    // Residual ||Hv - Ev||: how far v is from an eigenvector.
    let residual = 0;
    for (let i = 0; i < n; i++) residual += (hv[i]! - energy * v[i]!) ** 2;
    residual = Math.sqrt(residual);
    ctx.progress({ iteration, energy, residual } satisfies Convergence);
    // Blocks this worker thread only (never the main loop), as the solver's own work does.
    if (input.stepDelayMs) Atomics.wait(PAUSE, 0, 0, input.stepDelayMs);
    if (Math.abs(next - energy) < input.tolerance) {
      converged = true;
      break;
    }
    const w = new Float64Array(n);
    for (let i = 0; i < n; i++) w[i] = sigma * v[i]! - hv[i]!;
    normalize(w);
    v = w;
  }
  return { iterations: iteration, energy, converged };
}

/** Ring of n sites, hopping -1 between neighbours, on-site energies uniform in [-2, 2]. */
export function hamiltonian(n: number, seed: number): Float64Array {
  const h = new Float64Array(n * n);
  const rand = mulberry32(seed);
  for (let i = 0; i < n; i++) {
    h[i * n + i] = 4 * rand() - 2;
    const j = (i + 1) % n;
    h[i * n + j] = -1;
    h[j * n + i] = -1;
  }
  return h;
}

function matVec(m: Float64Array, v: Float64Array, out: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    let s = 0;
    const row = i * n;
    for (let j = 0; j < n; j++) s += m[row + j]! * v[j]!;
    out[i] = s;
  }
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function normalize(v: Float64Array): void {
  const norm = Math.sqrt(dot(v, v));
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm;
}
