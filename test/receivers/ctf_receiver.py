# ChangeThisFile's FastAPI receiver, exactly as their webhook guide publishes it (indentation
# restored from the page's text): see ../../../shared/reference/changethisfile-webhook-receiver.txt.
# The receiver-compatibility test runs it unchanged against Kiln, with CTF_WEBHOOK_SECRET set
# in its environment and an outputs/ directory in its working directory, as the guide assumes.
# webhook_receiver.py
import hashlib
import hmac
import json
import os
import time
from pathlib import Path
import httpx
from fastapi import FastAPI, Request, HTTPException, BackgroundTasks

app = FastAPI()
WEBHOOK_SECRET = os.environ['CTF_WEBHOOK_SECRET'].encode()

def verify_signature(payload: bytes, signature_header: str) -> bool:
    """Verify HMAC-SHA256 webhook signature."""
    # Header format: sha256=
    if not signature_header.startswith('sha256='):
        return False
    expected_sig = signature_header[7:]
    computed_sig = hmac.new(WEBHOOK_SECRET, payload, hashlib.sha256).hexdigest()
    # Constant-time comparison to prevent timing attacks
    return hmac.compare_digest(computed_sig, expected_sig)

async def handle_conversion_result(payload: dict):
    """Background task: download result and update storage."""
    job_id = payload['job_id']
    state = payload['state']
    metadata = payload.get('metadata', {})
    user_id = metadata.get('user_id')
    upload_id = metadata.get('upload_id')
    if state == 'failed':
        error = payload.get('error', {})
        print(f'Job {job_id} failed: {error}')
        # Update DB: mark upload as failed, notify user
        await update_upload_status(upload_id, 'failed', error=error)
        return
    if state == 'done':
        download_url = payload['download_url']
        # Download within 1 hour — URL expires
        async with httpx.AsyncClient() as client:
            dl_resp = await client.get(download_url, timeout=300)
            dl_resp.raise_for_status()
            result_bytes = dl_resp.content
        # Save to your storage (S3, disk, etc.)
        output_path = Path(f'outputs/{upload_id}.mp4')
        output_path.write_bytes(result_bytes)
        await update_upload_status(upload_id, 'done', output_path=str(output_path))
        print(f'Job {job_id} done for user {user_id}, {len(result_bytes)} bytes')

async def update_upload_status(upload_id, status, **kwargs):
    """Stub — replace with your DB call."""
    print(f'Upload {upload_id}: {status} {kwargs}')

@app.post('/webhooks/ctf')
async def ctf_webhook(request: Request, background_tasks: BackgroundTasks):
    payload_bytes = await request.body()
    signature = request.headers.get('X-CTF-Signature', '')
    if not verify_signature(payload_bytes, signature):
        raise HTTPException(status_code=401, detail='Invalid signature')
    payload = json.loads(payload_bytes)
    # Ack immediately — process in background
    background_tasks.add_task(handle_conversion_result, payload)
    return {'status': 'ok'}
