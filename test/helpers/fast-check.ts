// Every property test is bounded in time, shrinking included: a property that keeps finding
// (or shrinking) a failure past the limit is reported as a failure with its seed, instead of
// holding a test worker forever (vitest cannot interrupt synchronous code).
import fc from 'fast-check';

fc.configureGlobal({ interruptAfterTimeLimit: 30_000, markInterruptAsFailure: true });
