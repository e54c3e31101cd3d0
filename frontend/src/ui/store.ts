// Settings kept in localStorage (per TensorBoard origin). Any storage error (quota, disabled
// storage, malformed JSON) falls back to defaults.

const PREFIX = "tb_batch:";

export function load<T>(key: string, fallback: T): T {
  try {
    const s = localStorage.getItem(PREFIX + key);
    if (s === null) return fallback;
    const v = JSON.parse(s);
    return v === null || typeof v !== typeof fallback ? fallback : (v as T);
  } catch {
    return fallback;
  }
}

export function save(key: string, value: unknown): void {
  try {
    localStorage.setItem(PREFIX + key, JSON.stringify(value));
  } catch {
    /* storage unavailable: settings last for this page only */
  }
}
