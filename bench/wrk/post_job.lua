-- POST /jobs with a noop job; the shared reporter prints the figures as JSON.
wrk.method = "POST"
wrk.path = "/jobs"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type": "noop", "payload": {}}'
