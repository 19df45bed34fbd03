-- POST /jobs/batch with BENCH_BATCH noop jobs per request.
local size = tonumber(os.getenv("BENCH_BATCH") or "100")
local jobs = {}
for i = 1, size do
   jobs[i] = '{"type": "noop", "payload": {}}'
end
wrk.method = "POST"
wrk.path = "/jobs/batch"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"jobs": [' .. table.concat(jobs, ", ") .. ']}'
