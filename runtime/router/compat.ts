// Startup check that the saver and the base can stand in for each other row by row: same inputs
// (names, datatypes, shapes), and the scores output present in both with the same number of classes.
// Also builds the metadata the router serves for the cascade (the saver's, under the cascade name).

export interface TensorMeta {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ModelMeta {
  name: string;
  versions?: string[];
  platform?: string;
  /** extra fields; the cascade names its saver and base here (replay reads them) */
  parameters?: Record<string, unknown>;
  inputs: TensorMeta[];
  outputs: TensorMeta[];
}

const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

/** Same rank; every dimension equal unless either side is dynamic (-1). */
export function shapesCompatible(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((d, i) => d === b[i] || d < 0 || b[i] < 0);
}

export interface CascadeLayout {
  /** the output whose rows give the confidence */
  scoreOutput: string;
  /** number of classes (scores per row), or -1 when both models leave it dynamic */
  classes: number;
  /** outputs the cascade returns: saver outputs the base also has, in the saver's order */
  outputs: TensorMeta[];
  /** saver outputs left out because the base lacks them (worth a log line) */
  dropped: string[];
}

export type CompatResult = { ok: true; layout: CascadeLayout } | { ok: false; problems: string[] };

/** Pure check; lists every problem, not only the first, so one look at the log fixes them all. */
export function checkCompatible(saver: ModelMeta, base: ModelMeta, scoreOutput?: string): CompatResult {
  const problems: string[] = [];
  const s = `saver "${saver.name}"`;
  const b = `base "${base.name}"`;
  const baseInputs = new Map(base.inputs.map((t) => [t.name, t]));
  for (const si of saver.inputs) {
    const bi = baseInputs.get(si.name);
    if (!bi) {
      problems.push(
        `input "${si.name}" of the ${s} is missing in the ${b} (it has: ${base.inputs.map((t) => t.name).join(', ') || 'none'})`,
      );
      continue;
    }
    if (bi.datatype !== si.datatype) problems.push(`input "${si.name}": ${s} takes ${si.datatype}, ${b} takes ${bi.datatype}`);
    if (!shapesCompatible(si.shape, bi.shape))
      problems.push(`input "${si.name}": ${s} shape ${fmt(si.shape)}, ${b} shape ${fmt(bi.shape)}`);
    baseInputs.delete(si.name);
  }
  for (const extra of baseInputs.values()) problems.push(`input "${extra.name}" of the ${b} is missing in the ${s}`);
  for (const si of saver.inputs) {
    if (si.shape.length === 0) problems.push(`input "${si.name}" of the ${s} has no batch dimension`);
  }

  if (saver.outputs.length === 0) problems.push(`${s} has no outputs`);
  const name = scoreOutput ?? saver.outputs[0]?.name;
  const sOut = saver.outputs.find((t) => t.name === name);
  const bOut = base.outputs.find((t) => t.name === name);
  let classes = -1;
  if (name !== undefined && !sOut)
    problems.push(
      `scores output "${name}" (--output) is not an output of the ${s} (it has: ${saver.outputs.map((t) => t.name).join(', ')})`,
    );
  if (name !== undefined && !bOut)
    problems.push(`scores output "${name}" is not an output of the ${b} (it has: ${base.outputs.map((t) => t.name).join(', ') || 'none'})`);
  if (sOut && bOut) {
    const sc = classCount(sOut.shape);
    const bc = classCount(bOut.shape);
    if (sc > 0 && bc > 0 && sc !== bc) problems.push(`scores output "${name}": ${s} has ${sc} classes, ${b} has ${bc}`);
    if (sOut.datatype !== bOut.datatype)
      problems.push(`scores output "${name}": ${s} returns ${sOut.datatype}, ${b} returns ${bOut.datatype}`);
    classes = sc > 0 ? sc : bc;
  }
  if (problems.length > 0) return { ok: false, problems };

  const outputs: TensorMeta[] = [];
  const dropped: string[] = [];
  for (const so of saver.outputs) {
    const bo = base.outputs.find((t) => t.name === so.name);
    if (bo && bo.datatype === so.datatype && shapesCompatible(so.shape, bo.shape)) outputs.push(so);
    else dropped.push(so.name);
  }
  return { ok: true, layout: { scoreOutput: name as string, classes, outputs, dropped } };
}

/** Scores per row from a metadata shape [batch, ...]; -1 when any non-batch dim is dynamic. */
export function classCount(shape: readonly number[]): number {
  if (shape.length < 2) return shape.length === 1 ? 1 : -1;
  let n = 1;
  for (let i = 1; i < shape.length; i++) {
    if (shape[i] < 0) return -1;
    n *= shape[i];
  }
  return n;
}

/** Metadata the router answers for the cascade: the saver's tensors under the cascade's name. */
export function cascadeMetadata(cascadeName: string, saver: ModelMeta, layout: CascadeLayout): ModelMeta {
  return {
    name: cascadeName,
    versions: ['1'],
    platform: 'tinysaver-cascade',
    inputs: saver.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...t.shape] })),
    outputs: layout.outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...t.shape] })),
  };
}
