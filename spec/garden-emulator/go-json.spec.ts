import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { goJsonLine, sortedMap } from '../../src/garden-emulator/go-json';

describe('goJsonLine', () => {
  it('escapes like Go encoding/json (HTML-safe, \\u00XX controls) and ends with a newline', () => {
    assert.equal(
      goJsonLine({ args: ['echo err-line >&2 <x>'], ctl: '\b\f\u0001\n\t', sep: '\u2028' }),
      '{"args":["echo err-line \\u003e\\u00262 \\u003cx\\u003e"],"ctl":"\\u0008\\u000c\\u0001\\n\\t","sep":"\\u2028"}\n',
    );
  });

  it('writes nil as null, drops undefined fields, and sorts map keys bytewise', () => {
    assert.equal(goJsonLine({ Events: null, skip: undefined, n: 0 }), '{"Events":null,"n":0}\n');
    assert.equal(
      goJsonLine(
        sortedMap([
          ['b', '1'],
          ['B', '2'],
          ['a.b', '3'],
          ['a', '4'],
        ]),
      ),
      '{"B":"2","a":"4","a.b":"3","b":"1"}\n',
    );
  });
});
