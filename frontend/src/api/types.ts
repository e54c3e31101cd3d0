// The shapes of the plugin's HTTP answers (docs/http_api.md) once parsed: what every layer of
// the tab reads. Types only; parse.ts builds them, client.ts fetches them.

export interface Sampled {
  n: number;
  N: number;
}

export interface TagInfo {
  tag: string;
  kind: string;
  /** "tb_batch", "scalars" or "simple_value" (absent from older servers: "tb_batch") */
  source?: string;
  /** "exact", "reported", "custom" or "logged" (absent from older servers) */
  provenance?: string;
  count: number;
  first_step: number;
  last_step: number;
  sampled?: Sampled | null;
}

/** One validation pass of a validation run (docs/http_api.md, `runs`). */
export interface Evaluation {
  first_step: number;
  last_step: number | null;
  count: number;
  /** training batches done when it ran: its place on the training axis */
  train_step: number;
  epoch: number | null;
}

export interface RunInfo {
  run: string;
  tags: TagInfo[];
  source: string;
  role?: "train" | "validation" | null;
  train_run?: string | null;
  fits?: number[];
  /** absent from servers older than the evaluation markers; [] when the data has none */
  evaluations?: Evaluation[];
  skipped?: Record<string, number>;
  /** whether the run recorded its batches' highest-loss samples (absent from older servers) */
  samples?: boolean;
  /** the outputs with per-class losses: [null] for a model's single output, [] without */
  per_class?: (string | null)[];
  /** the outputs with per-sample dynamics: [""] for a model's single output, [] without
   * (absent from older servers) */
  dynamics?: string[];
}

export interface RunsResponse {
  runs: RunInfo[];
  corrupt_records?: number;
  /** the server is still indexing: runs may be added (poll again soon) */
  indexing?: boolean;
}

export interface Series {
  run: string;
  tag: string;
  start: number;
  end: number;
  count: number;
  reduced: boolean;
  method: string;
  steps: Float64Array;
  values: Float64Array;
  walls: Float64Array;
  sampled: Sampled | null;
  source?: string;
}

export interface Distribution {
  run: string;
  tag: string;
  count: number;
  reduced: boolean;
  probs: number[];
  steps: Float64Array;
  stepEnds: Float64Array;
  min: Float64Array;
  max: Float64Array;
  mean: Float64Array;
  quantiles: Float64Array[];
  edges: number[];
  counts: number[][];
}

export interface StepDist {
  count: number;
  nan_count: number;
  posinf_count: number;
  neginf_count: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  quantile_probs: number[];
  quantiles: number[];
  bin_edges: number[];
  histogram: number[];
}

export interface StepData {
  run: string;
  step: number;
  wall_time: number | null;
  found: boolean;
  scalars: Record<string, number>;
  distributions: Record<string, StepDist>;
  prev_step: number | null;
  next_step: number | null;
  evaluation: Evaluation | null;
}

/** The evaluation a validation run's anomaly belongs to: its place on the training axis, its
 * fit's epoch (null outside `fit`) and the batch within that evaluation. */
export interface AnomalyEvaluation {
  train_step: number;
  epoch: number | null;
  batch: number;
}

export interface Anomaly {
  run: string;
  tag: string;
  source?: string;
  step: number;
  value: number;
  /** "spike" (the batch as a whole, or a series' spike where no per-sample losses decide),
   * "samples" (a few samples carry the batch's loss), "gradient", "learning_rate", or "nan",
   * "inf", "-inf" */
  kind: "nan" | "inf" | "-inf" | "spike" | "samples" | "gradient" | "learning_rate" | string;
  score: number | null;
  jump: number | null;
  level: number | null;
  /** the batch as a whole's score at the step (runs with per-sample loss quantiles; else absent) */
  batch_score?: number | null;
  /** `samples`: the largest share of the batch's loss one sample holds, 0..1 */
  share?: number | null;
  /** a whole-batch event over consecutive steps (`step`: its highest-scoring one) */
  first_step?: number;
  last_step?: number;
  /** validation runs: the evaluation of the step */
  evaluation?: AnomalyEvaluation | null;
}

/** Per kind, a number of anomalies (absent kinds of older servers: 0). */
export interface KindCounts {
  spike: number;
  samples: number;
  gradient: number;
  learning_rate: number;
  nan: number;
  inf: number;
  "-inf": number;
}

export interface AnomalyCounts extends KindCounts {
  tag: string;
  source?: string;
  points: number;
  spread?: number;
}

export interface Anomalies {
  run: string;
  threshold: number;
  min_jump: number | null;
  warmup: number | null;
  window: number | null;
  /** whether the run's kinds are decided from its per-sample loss quantiles (absent: false) */
  batch_scored: boolean;
  series: AnomalyCounts[];
  /** the run's distinct steps per kind before the limit (null from older servers) */
  counts: KindCounts | null;
  anomalies: Anomaly[];
}

/** A typed array of a `format=binary` response, and its shape. */
export interface BinaryArray {
  data: Float64Array | Float32Array;
  shape: number[];
}


export interface AnomalyParams {
  limit?: number;
  threshold?: number;
  min_jump?: number;
}


/** One recorded sample of a step: `fingerprint` (16 hex digits), `loss`, `share`, `id` (NaN
 * when the run recorded none), `position`, and per output `label`, `predicted`, `probability`,
 * `label_probability` (names ending in `/<output>` for several outputs): every field as a number
 * but the fingerprint. */
export interface SampleRow {
  fingerprint: string;
  values: Record<string, number>;
}

export interface StepSamples {
  run: string;
  step: number;
  found: boolean;
  num_samples: number;
  fields: string[];
  samples: SampleRow[];
  /** the listed samples' share of the batch loss (NaN when none) */
  share: number;
}

/** A sample over a step range (`hardest`): how often it was among its batch's highest losses. */
export interface HardSample {
  fingerprint: string;
  id: number | null;
  count: number;
  max_loss: number;
  mean_loss: number;
  first_step: number;
  last_step: number;
  label: number | null;
  predicted: number | null;
}

export interface Hardest {
  run: string;
  start: number;
  end: number;
  samples: HardSample[];
}

/** Each class's mean loss and count per pixel column (`per_class`). */
export interface PerClass {
  run: string;
  output: string | null;
  classes: number;
  count: number;
  reduced: boolean;
  steps: number[];
  stepEnds: number[];
  /** [column][class]: NaN where the column has no sample of that class */
  means: Float64Array[];
  counts: Float64Array[];
}

/** One sample of a run's dynamics (`dynamics` rows, `label_issues` issues): its aggregates over
 * every presentation. NaN where the server sent none. */
export interface DynamicsRecord {
  fingerprint: string;
  id: number | null;
  presentations: number;
  first_step: number;
  last_step: number;
  /** area under the margin: the mean margin (negative: likely mislabelled) */
  aum: number;
  forgetting: number;
  /** the step from which it stayed learned; -1: not learned at the end (NaN: not sent) */
  learned_step: number;
  confidence: number;
  variability: number;
  accuracy: number;
  mean_loss: number;
  last_loss: number;
  label: number | null;
  predicted: number | null;
  /** `label_issues`: how likely mislabelled (NaN elsewhere) */
  score: number;
  /** `label_issues`: flagged as likely mislabelled (AUM < 0 and wrong in most presentations) */
  flagged: boolean;
}

/** Every sample of a data map (`dynamics` points): one entry per sample in each array. */
export interface DynamicsPoints {
  variability: Float64Array;
  confidence: Float64Array;
  aum: Float64Array;
  forgetting: Float64Array;
  fingerprint: string[];
  id: (number | null)[] | null;
  label: Float64Array | null;
  predicted: Float64Array | null;
}

/** The binned data map: `count`, `aum` and `forgetting` are [variability bin][confidence bin]
 * (NaN: an empty cell). */
export interface DataMapGrid {
  variability: number[];
  confidence: number[];
  count: number[][];
  aum: Float64Array[];
  forgetting: Float64Array[];
}

/** `dynamics`: a run's data map and one page of its samples. */
export interface DynamicsAnswer {
  run: string;
  output: string;
  outputs: string[];
  count: number;
  classification: boolean;
  map: DataMapGrid;
  /** null when there are too many samples to send: draw the map */
  points: DynamicsPoints | null;
  rows: DynamicsRecord[];
  order: string;
  descending: boolean;
  offset: number;
  limit: number;
}

/** `label_issues`: the samples most likely mislabelled, most likely first. */
export interface LabelIssues {
  run: string;
  output: string;
  /** how many of the output's samples are flagged (the issues are the top ones of every sample) */
  flagged: number;
  /** how many samples the output has */
  count: number;
  issues: DynamicsRecord[];
}

/** `dynamics_sample`: every presentation of one sample, in step order. */
export interface Presentations {
  run: string;
  output: string;
  key: string;
  step: number[];
  loss: Float64Array;
  margin: Float64Array;
  labelProbability: Float64Array;
  /** null where not known (a loss-only output) */
  correct: (boolean | null)[];
  predicted: Float64Array;
}
