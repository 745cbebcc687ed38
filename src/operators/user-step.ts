import { catchError, defaultIfEmpty, mergeMap, of, take, type OperatorFunction } from 'rxjs';
import type { UserStep } from '../topology/topology';
import { errorResult, type InferenceRequest, type InferenceResult } from '../tensor/records';

/**
 * Applies a user-defined step to each record on its own, so that one request's failure stays its own:
 * a throw (or an error from the user's RxJS operator) becomes an error result `CS_ERR_USER_OPERATOR`
 * for that request, a step that emits nothing yields one too, and only its first emission counts.
 * Stateful RxJS operators therefore see one record at a time (documented for topology authors).
 */
export function applyUserStep<T extends InferenceRequest | InferenceResult>(step: UserStep<T>): OperatorFunction<T, T | InferenceResult> {
  return mergeMap((record: T) => {
    const fail = (message: string): InferenceResult => errorResult(record, { code: 'CS_ERR_USER_OPERATOR', message: `step "${step.name}": ${message}` });
    let out;
    try {
      out = of(record).pipe(step.operator);
    } catch (err) {
      return of(fail(err instanceof Error ? err.message : String(err)));
    }
    return out.pipe(
      take(1),
      defaultIfEmpty(fail('emitted nothing for this request') as T | InferenceResult),
      catchError((err: unknown) => of(fail(err instanceof Error ? err.message : String(err)))),
    );
  }, step.concurrency ?? Infinity);
}
