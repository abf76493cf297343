-- wrk script: POST a unique small domain event per request to /hooks/{tenant}/events.
-- Environment: VIGIL_TENANT, VIGIL_INGEST_TOKEN. Counts answers by status.
local tenant = os.getenv("VIGIL_TENANT")
local token = os.getenv("VIGIL_INGEST_TOKEN")
local threads = {}
-- Per-thread globals (each wrk thread has its own Lua state; done() reads them with thread:get).
counter = 0
prefix = ""
statuses = {}

function setup(thread)
  thread:set("prefix", tostring(#threads + 1) .. "_" .. tostring(math.random(1, 1000000000)))
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.path = "/hooks/" .. tenant .. "/events"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"id":"evt_%s_%d","type":"load.test","occurred_at":"2026-11-22T10:00:00Z","subject":{"client_id":"c_1"},"data":{"n":%d}}',
    prefix, counter, counter)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, n in pairs(s) do total[code] = (total[code] or 0) + n end
  end
  for code, n in pairs(total) do
    io.write(string.format("status %d: %d\n", code, n))
  end
  io.write(string.format("p50 %.2f ms, p99 %.2f ms, requests/s %.0f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1000000)))
end
