import type { Logger } from 'pino';
import { LabelProcessor } from '../../labels/processor.ts';
import type { AttributesProcessorConfig } from './config.ts';
import { applyActions, attributes, compileActions } from './operator.ts';

/** processor `attributes`: insert, update, upsert, delete and hash labels of points (and attributes of spans and log records). */
export class AttributesProcessor extends LabelProcessor {
  constructor(id: string, config: AttributesProcessorConfig, logger: Logger) {
    const actions = compileActions(config.actions);
    super(
      id,
      logger,
      (sink) => attributes(actions, sink),
      (labels) => {
        applyActions(labels, actions);
        return true;
      },
    );
  }
}
