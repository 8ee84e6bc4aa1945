import type { HistoryEvent } from '@aws-sdk/client-sfn';

/**
 * Builds Step Functions history events (oldest first) the way GetExecutionHistory returns them:
 * `<Type>StateEntered` with the state's input as JSON text, `<Type>StateExited` with its output.
 * For unit tests of the capture; the integration test reads histories the stand-in recorded.
 */
export class HistoryBuilder {
  readonly events: HistoryEvent[] = [];

  private push(type: string, details: Partial<HistoryEvent> = {}): this {
    const id = this.events.length + 1;
    this.events.push({ id, previousEventId: id - 1, timestamp: new Date(1_800_000_000_000 + id), type: type as HistoryEvent['type'], ...details });
    return this;
  }

  started(input: unknown): this {
    return this.push('ExecutionStarted', { executionStartedEventDetails: { input: JSON.stringify(input) } });
  }

  entered(type: 'Task' | 'Pass' | 'Map' | 'Parallel' | 'Choice' | 'Fail', name: string, input: unknown): this {
    return this.push(`${type}StateEntered`, { stateEnteredEventDetails: { name, input: JSON.stringify(input) } });
  }

  exited(type: 'Task' | 'Pass' | 'Map' | 'Parallel' | 'Choice', name: string, output: unknown): this {
    return this.push(`${type}StateExited`, { stateExitedEventDetails: { name, output: JSON.stringify(output) } });
  }

  /** A Task state entered and exited with `output`. */
  task(name: string, input: unknown, output: unknown): this {
    return this.entered('Task', name, input).exited('Task', name, output);
  }

  other(type: string, details: Partial<HistoryEvent> = {}): this {
    return this.push(type, details);
  }

  /** Newest first, as `reverseOrder: true` returns them. */
  reversed(): HistoryEvent[] {
    return [...this.events].reverse();
  }
}
