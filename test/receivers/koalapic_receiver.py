# KoalaPic's minimal Flask receiver, exactly as their webhook guide publishes it (indentation
# restored from the page's text): see ../../../shared/reference/koalapic-webhooks.txt. The
# receiver-compatibility test runs it unchanged against Kiln; only WEBHOOK_SECRET is the
# receiver's own, and Kiln is configured through its API to fit it.
import hashlib
import hmac
from flask import Flask, request, jsonify

app = Flask(__name__)
WEBHOOK_SECRET = "whsec_your_webhook_secret"

@app.route("/webhooks/koalapic", methods=["POST"])
def handle_webhook():
    # Verify the signature
    signature = request.headers.get("X-KoalaPic-Signature")
    payload = request.get_data()
    expected = hmac.new(
        WEBHOOK_SECRET.encode(),
        payload,
        hashlib.sha256,
    ).hexdigest()
    if not hmac.compare_digest(signature, expected):
        return jsonify({"error": "Invalid signature"}), 401
    data = request.json
    event = data["event"]
    if event == "conversion.completed":
        download_url = data["data"]["download_url"]
        print(f"Conversion done! Download: {download_url}")
    elif event == "conversion.failed":
        error = data["data"]["error"]
        print(f"Conversion failed: {error}")
    return jsonify({"received": True}), 200
