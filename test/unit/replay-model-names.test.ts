// `tinysaver replay --base-zoo` names the zoo entry for the cost columns only; the model asked for at
// --base-url is --base-model, else what the cascade's router calls at its base (issue 10: in a cluster
// the base server serves "base", and replay used to send the zoo name there and abort).
import { describe, expect, it } from 'vitest';
import { replayModelNames } from '../../cli/commands/replay.js';

describe('replayModelNames', () => {
  it('--base-zoo does not change the model requested at --base-url', () => {
    const named = { tinysaver_saver_model: 'saver', tinysaver_base_model: 'base' };
    expect(replayModelNames({ 'saver-zoo': 'saver-tinycnn', 'base-zoo': 'base-cnn' }, named)).toEqual({
      saverName: 'saver-tinycnn',
      baseName: 'base-cnn',
      baseModel: 'base',
    });
  });
  it('--base-model wins; without anything named, the zoo name, else base-cnn', () => {
    expect(replayModelNames({ 'base-model': 'resnet', 'base-zoo': 'base-cnn' }, { tinysaver_base_model: 'base' }).baseModel).toBe('resnet');
    expect(replayModelNames({ 'base-zoo': 'base-cnn' }, {}).baseModel).toBe('base-cnn');
    expect(replayModelNames({}, {})).toEqual({ saverName: undefined, baseName: undefined, baseModel: 'base-cnn' });
    // local `up` names its zoo models: the same name is the cost entry and the served model
    expect(replayModelNames({}, { tinysaver_saver_model: 'saver-tinycnn', tinysaver_base_model: 'base-cnn' })).toEqual({
      saverName: 'saver-tinycnn',
      baseName: 'base-cnn',
      baseModel: 'base-cnn',
    });
  });
});
