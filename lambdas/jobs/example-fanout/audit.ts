import { createStepHandler } from '../../shared/step';
import { audit } from './logic';

export const handler = createStepHandler(({ previous }) => audit(previous));
