import { AppConfig } from '../../lib/config/types';
import { fixtureConfig } from '../support/fixture-config';

/** The fixture config with a sandbox stage `local` (the proof job only: the examples are opt-in). */
export const sandboxConfig: AppConfig = { ...fixtureConfig, defaultStage: 'local', stages: { ...(fixtureConfig.stages ?? {}), local: { sandbox: true } } };
