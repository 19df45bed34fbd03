-- POST /jobs with an unknown type: the same parsing and routing, answered 400 with no DB write.
wrk.method = "POST"
wrk.path = "/jobs"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type": "no-such-type", "payload": {}}'
