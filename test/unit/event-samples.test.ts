import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EVENT_CATALOG, EVENT_TYPES } from '../../src/model/event-catalog.js';
import { sampleEvent } from '../../src/events/samples.js';
import { webhookEnvelope } from '../../src/webhooks/payload.js';
import { DownloadSigner } from '../../src/signing/download-url.js';

test('each sample event, as sent, is what the catalog says that type carries', () => {
  const signer = new DownloadSigner('samples-test-key', () => 'http://kiln.test', 3600);
  for (const type of EVENT_TYPES) {
    const envelope = webhookEnvelope(sampleEvent(type, 'acc_1', new Date()), signer, new Date());
    const parsed = EVENT_CATALOG[type].data.strict().safeParse(envelope.data);
    assert.ok(parsed.success, `${type}: ${parsed.success ? '' : parsed.error.message}`);
    // Renditions are signed at send time too, each with its own link.
    if (type === 'conversion.completed') {
      const outputs = (envelope.data as { outputs: Array<{ index: number; download_url: string }> }).outputs;
      assert.match(outputs[1]!.download_url, /\/v1\/downloads\/cnv_sample\?output=1&expires=\d+&signature=[0-9a-f]{64}$/);
      assert.equal(
        signer.verify(
          'cnv_sample',
          new URL(outputs[1]!.download_url).searchParams.get('expires')!,
          new URL(outputs[1]!.download_url).searchParams.get('signature')!,
          new Date(),
          1,
        ),
        'valid',
      );
    }
  }
});
