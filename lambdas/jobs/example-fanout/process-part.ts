import { createStepHandler } from '../../shared/step';
import { processPart } from './logic';

export const handler = createStepHandler(({ previous, index }) => processPart(previous, index));
