"""veil.service: ``veil serve``, the HTTP API and the bucket triggers over veil.jobs and veil.storage.

The native REST API, S3/MinIO bucket notifications, a polling bucket watcher and an
Amazon Rekognition-compatible job API (AWS JSON 1.1 with Signature V4), in one process
with the worker pool: ``veil.service.app.create_app(settings)`` builds it,
``veil.cli.serve`` is the ``veil serve`` command. This package's own import
stays light so that the other ``veil`` commands do not pay for FastAPI and boto3.
"""
