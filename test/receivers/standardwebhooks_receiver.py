# A receiver written the way the Standard Webhooks library documents it: the raw body and the
# headers go to Webhook(secret).verify, which raises on a bad signature or an old timestamp.
# It prints one line per request, which the CLI test reads: "verified <id> <type>" or "refused <why>".
import os

from flask import Flask, request
from standardwebhooks.webhooks import Webhook

app = Flask(__name__)
wh = Webhook(os.environ["WEBHOOK_SECRET"])


@app.post("/hooks")
def hooks():
    try:
        event = wh.verify(request.get_data(), dict(request.headers))
    except Exception as error:  # the library raises WebhookVerificationError
        print(f"refused {error}", flush=True)
        return "", 400
    print(f"verified {event['id']} {event['type']}", flush=True)
    return "", 204
