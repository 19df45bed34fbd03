-- Appended to every scenario: sends the stack's API key, counts replies by status and prints one
-- JSON line at the end.
local key = os.getenv("BENCH_API_KEY")
if key and key ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. key
end
statuses = {}
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local merged = {}
   for _, t in ipairs(threads) do
      local counts = t:get("statuses")
      for code, n in pairs(counts or {}) do
         merged[code] = (merged[code] or 0) + n
      end
   end
   local parts = {}
   for code, n in pairs(merged) do
      table.insert(parts, string.format('"%d": %d', code, n))
   end
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, ' ..
      '"write": %d, "timeout": %d, "status": %d}, "latency_us": {"p50": %d, "p90": %d, ' ..
      '"p99": %d, "max": %d, "mean": %.1f}, "statuses": {%s}}\n',
      summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
      summary.errors.write, summary.errors.timeout, summary.errors.status,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      latency.mean, table.concat(parts, ", ")))
end
