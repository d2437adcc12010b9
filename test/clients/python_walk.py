"""A walk through Kiln using only the client openapi-python-client generated from Kiln's live
OpenAPI document (the package `kiln_client`, on PYTHONPATH). Run by test/api/contract-tools.test.ts.

Environment: KILN_URL, KILN_API_KEY, RECEIVER_URL (a receiver that answers 200), PHOTO (a JPEG),
OUT_DIR (where the outputs are written for the test to decode). Prints one JSON line of what it saw;
any failure raises, and the exit code says so.
"""

import io
import json
import os
import time
import zipfile
from urllib.parse import parse_qs, urlparse

from kiln_client import AuthenticatedClient
from kiln_client.api.conversions import create_conversion, download_output, get_conversion
from kiln_client.api.jobs import create_job, download_job_archive, get_job, list_job_conversions
from kiln_client.api.webhook_deliveries import get_delivery, list_deliveries, retry_delivery
from kiln_client.api.webhook_endpoints import create_endpoint, rotate_endpoint_secret, test_endpoint, update_endpoint
from kiln_client.models import (
    Conversion,
    ConversionStatus,
    ConversionForm,
    ConversionFormOutputFormat,
    CreateConversionOutputFormat,
    CreateEndpointBody,
    CreateEndpointBodyEventTypesItem,
    CreateJobFilesBody,
    CreateJobFilesBodyOutputFormat,
    Job,
    JobStatus,
    Problem,
    ProblemCode,
    RotateEndpointSecretBody,
    UpdateEndpointBody,
    WebhookDeliveryStatus,
)
from kiln_client.types import File

client = AuthenticatedClient(base_url=os.environ["KILN_URL"], token=os.environ["KILN_API_KEY"], timeout=30)
photo = open(os.environ["PHOTO"], "rb").read()
out_dir = os.environ["OUT_DIR"]
seen = {}


def until(check, what, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def finished(conversion_id):
    def check():
        conversion = get_conversion.sync(id=conversion_id, client=client)
        assert isinstance(conversion, Conversion), conversion
        return conversion if conversion.status not in (ConversionStatus.QUEUED, ConversionStatus.RUNNING) else None

    return until(check, f"conversion {conversion_id}")


def download(link):
    """A signed download_url, fetched through the generated downloadOutput operation."""
    url = urlparse(link)
    query = parse_qs(url.query)
    got = download_output.sync(id=url.path.rsplit("/", 1)[1], client=client, expires=query["expires"][0], signature=query["signature"][0])
    assert isinstance(got, File), got
    return got.payload.read()


def save(name, data):
    with open(os.path.join(out_dir, name), "wb") as file:
        file.write(data)


# A multipart upload with options, and an Idempotency-Key that replays the same answer.
form = ConversionForm(
    file=File(payload=io.BytesIO(photo), file_name="photo.jpg", mime_type="image/jpeg"),
    output_format=ConversionFormOutputFormat.WEBP,
    width=320,
    tag="walk",
)
first = create_conversion.sync(client=client, body=form, idempotency_key="python-walk-multipart")
assert isinstance(first, Conversion), first
form.file = File(payload=io.BytesIO(photo), file_name="photo.jpg", mime_type="image/jpeg")
again = create_conversion.sync(client=client, body=form, idempotency_key="python-walk-multipart")
assert isinstance(again, Conversion) and again.id == first.id, (again, first.id)
done = finished(first.id)
assert done.status == ConversionStatus.SUCCEEDED, done.error
save("multipart.webp", download(done.download_url))
seen["multipart"] = {"id": done.id, "width": done.output.width, "format": done.output.format_}

# The raw image as the body, its options as typed query parameters.
raw = create_conversion.sync(
    client=client,
    body=File(payload=io.BytesIO(photo), mime_type="image/jpeg"),
    filename="raw.jpg",
    output_format=CreateConversionOutputFormat.PNG,
    width=200,
    grayscale=True,
)
assert isinstance(raw, Conversion), raw
done = finished(raw.id)
assert done.status == ConversionStatus.SUCCEEDED, done.error
save("raw.png", download(done.download_url))
seen["raw"] = {"filename": done.input_.filename, "width": done.output.width, "grayscale": done.options.grayscale}

# A job of several files, its files listed, and its archive.
job = create_job.sync(
    client=client,
    body=CreateJobFilesBody(
        file=[File(payload=io.BytesIO(photo), file_name=f"job-{n}.jpg", mime_type="image/jpeg") for n in range(3)],
        output_format=CreateJobFilesBodyOutputFormat.JPEG,
        width=100,
        concurrency=2,
    ),
)
assert isinstance(job, Job), job
job = until(lambda: (lambda j: j if j.status not in (JobStatus.QUEUED, JobStatus.RUNNING) else None)(get_job.sync(id=job.id, client=client)), "the job")
assert job.status == JobStatus.SUCCEEDED, job
files = list_job_conversions.sync(id=job.id, client=client)
assert [f.input_.filename for f in files.data] == ["job-0.jpg", "job-1.jpg", "job-2.jpg"], files
archive = download_job_archive.sync(id=job.id, client=client)
assert isinstance(archive, File), archive
zipped = archive.payload.read()
save("job.zip", zipped)
seen["job"] = {"id": job.id, "entries": sorted(zipfile.ZipFile(io.BytesIO(zipped)).namelist())}

# An endpoint: created, changed, its secret rotated, a test event sent.
endpoint = create_endpoint.sync(
    client=client,
    body=CreateEndpointBody(url=os.environ["RECEIVER_URL"], event_types=[CreateEndpointBodyEventTypesItem.WEBHOOK_TEST], description="walk"),
)
assert endpoint.secret.startswith("whsec_"), endpoint
changed = update_endpoint.sync(id=endpoint.id, client=client, body=UpdateEndpointBody(description="walked", retry_schedule=["1s"]))
assert changed.description == "walked" and changed.retry_schedule == ["1s"], changed
rotated = rotate_endpoint_secret.sync(id=endpoint.id, client=client, body=RotateEndpointSecretBody(overlap_seconds=60))
assert rotated.secret != endpoint.secret and rotated.previous_secret_expires_at, rotated
sent = test_endpoint.sync(id=endpoint.id, client=client)

# Its delivery: read until it succeeded, found in the log, retried by hand.
delivered = until(lambda: (lambda d: d if d.status == WebhookDeliveryStatus.SUCCEEDED else None)(get_delivery.sync(id=sent.delivery_id, client=client)), "the delivery")
assert delivered.payload.type_ == "webhook.test", delivered.payload
logged = list_deliveries.sync(client=client, endpoint_id=endpoint.id)
assert [d.id for d in logged.data] == [sent.delivery_id], logged
retried = retry_delivery.sync(id=sent.delivery_id, client=client)
assert retried.id == sent.delivery_id, retried
again = until(lambda: (lambda d: d if len(d.attempts) == 2 and d.status == WebhookDeliveryStatus.SUCCEEDED else None)(get_delivery.sync(id=sent.delivery_id, client=client)), "the retry")
seen["delivery"] = {"attempts": [a.trigger.value for a in again.attempts]}

# Problems, typed: the code is an enum member, the fields named.
missing = get_conversion.sync_detailed(id="cnv_" + "0" * 23, client=client)
assert missing.status_code == 404 and isinstance(missing.parsed, Problem), missing
assert missing.parsed.code == ProblemCode.CONVERSION_NOT_FOUND, missing.parsed
refused = create_conversion.sync_detailed(
    client=client,
    body=File(payload=io.BytesIO(photo), mime_type="image/jpeg"),
    output_format=CreateConversionOutputFormat.JPEG,
    lossless=True,
)
assert refused.status_code == 400 and refused.parsed.code == ProblemCode.INVALID_OPTIONS, refused.parsed
seen["problems"] = [missing.parsed.code.value, refused.parsed.code.value, [e.field for e in refused.parsed.errors]]

print(json.dumps(seen))
