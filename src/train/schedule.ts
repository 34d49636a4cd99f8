// CoreNet's learning-rate schedule (corenet/optims/scheduler/cosine.py CosineScheduler, iteration based,
// and base_scheduler.py update_lr, which rounds to 8 decimal places):
//   it < warmup:  lr = warmup_init_lr + it · (max_lr − warmup_init_lr) / warmup
//   otherwise:    lr = min_lr + ½ (max_lr − min_lr) (1 + cos(π (it − warmup) / (max_iterations − warmup + 1)))
// `it` is the 0-based optimizer-step counter. OpenELM recipes: warmup 5000 from 1e-6, min = max / 10.

export interface CosineSchedule {
  max_lr: number;
  min_lr: number;
  warmup_iterations: number;
  max_iterations: number;
  warmup_init_lr: number;
}

/** The learning rate of optimizer step `it` (0-based), rounded as CoreNet rounds it unless round is false. */
export function corenetLr(it: number, s: CosineSchedule, round = true): number {
  let lr: number;
  if (it < s.warmup_iterations) {
    lr = s.warmup_init_lr + (it * (s.max_lr - s.warmup_init_lr)) / s.warmup_iterations;
  } else {
    const period = s.max_iterations - s.warmup_iterations + 1;
    lr = s.min_lr + 0.5 * (s.max_lr - s.min_lr) * (1 + Math.cos((Math.PI * (it - s.warmup_iterations)) / period));
  }
  lr = Math.max(0, lr);
  return round ? pythonRound(lr, 8) : lr;
}

/**
 * Python's round(x, digits) for x ≥ 0: the exact binary value rounded to `digits` decimals, ties to even.
 * toFixed rounds the exact value too but sends ties up, so exact ties are settled here.
 */
export function pythonRound(x: number, digits: number): number {
  const fixed = x.toFixed(digits);
  const exact = x.toFixed(Math.min(100, digits + 60)); // enough digits to see an exact tie
  const rest = exact.slice(exact.indexOf(".") + 1 + digits);
  if (/^50*$/.test(rest)) {
    const down = exact.slice(0, exact.indexOf(".") + 1 + digits);
    const lastDigit = Number(down[down.length - 1]);
    if (lastDigit % 2 === 0) return Number(down); // tie, and the lower neighbour is even
  }
  return Number(fixed);
}
